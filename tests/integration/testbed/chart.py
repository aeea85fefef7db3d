"""Renders the Helm chart (charts/portico) with the helm binary that
scripts/install-helm puts in build/tools, so tests can hold the chart to
what the programs really need."""
import os
import subprocess
import tempfile

import yaml

import testbed

CHART = testbed.REPO / "charts" / "portico"
HELM = testbed.BUILD / "tools" / "helm"


def helm(*args):
    with tempfile.TemporaryDirectory() as home:
        env = dict(os.environ, HELM_CACHE_HOME=home, HELM_CONFIG_HOME=home,
                   HELM_DATA_HOME=home)
        return subprocess.run([str(HELM), *args], env=env, text=True,
                              stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, timeout=60)


def render(*values):
    """The chart's documents, rendered as release "rel" in "ingress"."""
    p = helm("template", "rel", str(CHART), "--namespace", "ingress", *values)
    if p.returncode != 0:
        raise RuntimeError(f"helm template failed:\n{p.stdout}")
    return [d for d in yaml.safe_load_all(p.stdout) if d]


def rbac_allow_list(*values):
    """The chart's ClusterRole and Role rules as the fake API server's
    allow-list: sorted "verb resource" strings."""
    return sorted({f"{verb} {res}"
                   for d in render(*values) if d["kind"] in ("ClusterRole",
                                                             "Role")
                   for r in d["rules"] for res in r["resources"]
                   for verb in r["verbs"]})
