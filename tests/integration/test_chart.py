"""The Helm chart: it lints, renders, and everything it tells our programs
is something they understand."""
import re
import subprocess

import pytest

import testbed
from testbed.chart import CHART, helm, render

FULL = ["--set", "vault.enabled=true,vault.address=https://vault:8200,"
        "vault.tokenSecret=vt,vault.caSecret=vca,vault.pkiRole=ingress,"
        "vault.kubernetesAuth.role=portico,controller.publishDNSEndpoints=true,"
        "controller.watchNamespace=apps,controller.watchIngressWithoutClass=true,"
        "controller.ingressClass.default=true,dnscache.upstreams={10.0.0.10}"]


def flags_in_help(binary):
    out = subprocess.run([str(binary), "--help"], stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True, timeout=10).stdout
    return set(re.findall(r"(--[a-z0-9-]+)", out))


@pytest.mark.parametrize("values", [[], FULL], ids=["defaults", "all-options"])
def test_chart_lints_clean(values):
    p = helm("lint", "--strict", str(CHART), *values)
    assert p.returncode == 0, p.stdout


@pytest.mark.parametrize("values", [[], FULL], ids=["defaults", "all-options"])
def test_every_rendered_flag_is_one_our_programs_accept(values):
    docs = render(*values)
    deploy = next(d for d in docs if d["kind"] == "Deployment")
    containers = {c["name"]: c for c in
                  deploy["spec"]["template"]["spec"]["containers"]}
    known = {
        "controller": flags_in_help(testbed.BUILD / "portico-controller"),
        "dnscache": flags_in_help(testbed.BUILD / "portico-dnscache"),
    }
    assert set(containers) == set(known)
    for name, c in containers.items():
        assert c["command"][0].endswith("portico-" + (
            "controller" if name == "controller" else "dnscache"))
        for arg in c["args"]:
            flag = arg.split("=", 1)[0]
            assert flag in known[name], f"{name}: unknown flag {arg!r}"


def test_pod_resolves_upstreams_through_the_sidecar_on_loopback():
    docs = render()
    deploy = next(d for d in docs if d["kind"] == "Deployment")
    c = {c["name"]: c for c in deploy["spec"]["template"]["spec"]["containers"]}
    assert "--resolver=127.0.0.1:53" in c["controller"]["args"]
    assert "--listen=127.0.0.1:53" in c["dnscache"]["args"]


def test_ingress_class_names_our_controller():
    docs = render(*FULL)
    ic = next(d for d in docs if d["kind"] == "IngressClass")
    assert ic["spec"]["controller"] == "portico.io/ingress-controller"
    assert ic["metadata"]["annotations"][
        "ingressclass.kubernetes.io/is-default-class"] == "true"


def test_rbac_grants_reads_and_status_writes_but_no_secret_writes():
    docs = render()
    rules = [r for d in docs if d["kind"] in ("ClusterRole", "Role")
             for r in d["rules"]]
    granted = {(g, res, v) for r in rules for g in r["apiGroups"]
               for res in r["resources"] for v in r["verbs"]}
    for need in [("networking.k8s.io", "ingresses", "watch"),
                 ("networking.k8s.io", "ingresses/status", "patch"),
                 ("", "secrets", "list"),
                 ("coordination.k8s.io", "leases", "update")]:
        assert need in granted
    writes = {"create", "update", "patch", "delete"}
    assert not {(g, r, v) for g, r, v in granted
                if r in ("secrets", "ingresses", "services") and v in writes}
    assert not any(r["verbs"] == ["*"] or "*" in r["resources"] for r in rules)
