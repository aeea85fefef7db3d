"""Small shared pieces of the Vault stand-in: errors, durations, times, ids.

Error bodies follow sdk/logical/response_util.go: {"errors": [...]} for any
status >= 400. Errors that reach the client through the core's multierror
(permission denied, unsupported operation) use the multi-line form the
current server prints.
"""

import base64
import datetime
import re
import secrets
import time
import uuid

PERMISSION_DENIED = "1 error occurred:\n\t* permission denied\n\n"
UNSUPPORTED_OPERATION = "1 error occurred:\n\t* unsupported operation\n\n"
SEALED = "Vault is sealed"

# System defaults of a dev server: default and max lease TTL are 768h.
SYSTEM_MAX_TTL = 768 * 3600
SYSTEM_DEFAULT_TTL = 768 * 3600

_UNIT_SECONDS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3,
                 "s": 1, "m": 60, "h": 3600, "d": 86400}
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h|d)")


class VaultError(Exception):
    """A request failure: HTTP status plus the `errors` list.

    `body` replaces the whole JSON body when set (for example the KV v2
    404 that carries a full response envelope).
    """

    def __init__(self, status, errors=None, body=None):
        super().__init__("%d %r" % (status, errors))
        self.status = status
        self.errors = [] if errors is None else list(errors)
        self.body = body


def bad_request(msg):
    return VaultError(400, [msg])


def denied():
    return VaultError(403, [PERMISSION_DENIED])


def not_found():
    """The shape of a nil read: 404 with an empty errors list."""
    return VaultError(404, [])


def unsupported():
    return VaultError(405, [UNSUPPORTED_OPERATION])


def parse_duration(value, field="ttl"):
    """Parse a Vault duration (int seconds, "90", "1h30m", "2d") to seconds.

    Raises VaultError 400 on junk, like parseutil.ParseDurationSecond.
    """
    if value is None or value == "":
        return 0
    if isinstance(value, bool):
        raise bad_request("invalid %s: %r" % (field, value))
    if isinstance(value, (int, float)):
        return int(value)
    text = str(value).strip()
    if re.fullmatch(r"\d+", text):
        return int(text)
    pos, total = 0, 0.0
    for m in _DURATION_PART.finditer(text):
        if m.start() != pos:
            break
        total += float(m.group(1)) * _UNIT_SECONDS[m.group(2)]
        pos = m.end()
    if pos != len(text) or not text:
        raise bad_request("error parsing %s: time: invalid duration \"%s\"" % (field, text))
    return int(total)


def go_duration(seconds):
    """Seconds as Go's time.Duration prints them: 768h0m0s, 10m0s, 5s."""
    seconds = int(seconds)
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    if h:
        return "%dh%dm%ds" % (h, m, s)
    if m:
        return "%dm%ds" % (m, s)
    return "%ds" % s


def rfc3339(ts):
    """Unix seconds -> "2018-03-22T02:24:06.945319214Z" style timestamp."""
    dt = datetime.datetime.fromtimestamp(ts, tz=datetime.timezone.utc)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + "%06d000Z" % dt.microsecond


def now():
    return time.time()


def new_uuid():
    return str(uuid.uuid4())


def new_token_value():
    """A service token in the current format: "hvs." + 24 url-safe chars."""
    return "hvs." + secrets.token_urlsafe(18)[:24]


def new_accessor():
    return secrets.token_urlsafe(18)[:24]


def new_unseal_key():
    return base64.b64encode(secrets.token_bytes(32)).decode()


def as_list(value):
    """Vault accepts lists or comma-separated strings for list fields."""
    if value is None:
        return []
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    return [str(v) for v in value]


def as_bool(value, default=False):
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return value != 0
    return str(value).lower() in ("1", "true", "t", "yes")


class Resp:
    """A successful logical response before it is put in the envelope.

    `raw` (bytes) with `content_type` bypasses the JSON envelope, as real
    endpoints like pki/ca/pem do. `status` lets a backend answer 404 with a
    full envelope (KV v2 deleted version, wrong path on a v2 mount).
    """

    def __init__(self, data=None, status=200, warnings=None, auth=None,
                 lease_duration=0, renewable=False, lease_id="", raw=None,
                 content_type="application/json"):
        self.data = data
        self.status = status
        self.warnings = warnings
        self.auth = auth
        self.lease_duration = lease_duration
        self.renewable = renewable
        self.lease_id = lease_id
        self.raw = raw
        self.content_type = content_type
        self.extra = None


class Request:
    """One logical request as a backend sees it.

    op is read|list|create|update|delete|patch; path is relative to the
    mount; token is the resolved Token or None for unauthenticated paths.
    """

    def __init__(self, op, path, data, query, token=None, mount_path=""):
        self.op = op
        self.path = path
        self.data = data
        self.query = query
        self.token = token
        self.mount_path = mount_path
