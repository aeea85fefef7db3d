"""Reads a Prometheus text exposition (format 0.0.4) into samples, so
tests compare exact values by exact label sets."""
import re

_SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$')
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(,|$)')


def _unescape(value):
    return re.sub(r'\\(.)', lambda m: "\n" if m.group(1) == "n"
                  else m.group(1), value)


def parse(text):
    """[(name, {label: value}, float)] of every sample line; raises
    ValueError on a line that is neither a sample nor a comment."""
    samples = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = _SAMPLE.match(line)
        if not m:
            raise ValueError(f"not a sample line: {line!r}")
        labels, rest = {}, m.group(2) or ""
        while rest:
            lm = _LABEL.match(rest)
            if not lm:
                raise ValueError(f"bad labels in {line!r}")
            labels[lm.group(1)] = _unescape(lm.group(2))
            rest = rest[lm.end():]
        samples.append((m.group(1), labels, float(m.group(3))))
    return samples


class Samples:
    """The samples of one exposition, looked up by name and labels."""

    def __init__(self, text):
        self.samples = parse(text)

    def get(self, name, **labels):
        """The value of the sample with exactly these labels, or None."""
        want = {k: str(v) for k, v in labels.items()}
        for n, lab, v in self.samples:
            if n == name and lab == want:
                return v
        return None

    def matching(self, name, **labels):
        """[(labels, value)] of the samples of name whose labels include
        these."""
        want = {k: str(v) for k, v in labels.items()}
        return [(lab, v) for n, lab, v in self.samples
                if n == name and all(lab.get(k) == x for k, x in want.items())]

    def sum(self, name, **labels):
        return sum(v for _, v in self.matching(name, **labels))

    def names(self):
        return {n for n, _, _ in self.samples}
