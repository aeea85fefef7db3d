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
    controller = flags_in_help(testbed.BUILD / "portico-controller")
    known = {
        "controller": controller,
        "nginx": controller,                # portico-controller --role=nginx
        "dnscache": flags_in_help(testbed.BUILD / "portico-dnscache"),
    }
    assert set(containers) == set(known)
    for name, c in containers.items():
        assert c["command"][0].endswith("portico-" + (
            "dnscache" if name == "dnscache" else "controller"))
        for arg in c["args"]:
            flag = arg.split("=", 1)[0]
            assert flag in known[name], f"{name}: unknown flag {arg!r}"


def test_pod_resolves_upstreams_through_the_sidecar_on_loopback():
    docs = render()
    deploy = next(d for d in docs if d["kind"] == "Deployment")
    c = {c["name"]: c for c in deploy["spec"]["template"]["spec"]["containers"]}
    # A port a non-root container binds with no capability.
    assert "--resolver=127.0.0.1:1053" in c["controller"]["args"]
    assert "--listen=127.0.0.1:1053" in c["dnscache"]["args"]


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


def deployment(*values):
    return next(d for d in render(*values) if d["kind"] == "Deployment")


def containers_of(*values):
    return {c["name"]: c for c in
            deployment(*values)["spec"]["template"]["spec"]["containers"]}


@pytest.mark.parametrize("values", [[], FULL], ids=["defaults", "all-options"])
def test_every_container_is_non_root_read_only_with_no_capability_but_nginx_bind(
        values):
    pod = deployment(*values)["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 101
    assert pod["securityContext"]["seccompProfile"] == {
        "type": "RuntimeDefault"}
    assert pod["shareProcessNamespace"] is True
    for c in pod["containers"]:
        sc = c["securityContext"]
        assert sc["readOnlyRootFilesystem"] is True
        assert sc["runAsNonRoot"] is True
        assert sc["capabilities"]["drop"] == ["ALL"]
        if c["name"] in ("nginx", "controller"):
            # nginx (and the controller's `nginx -t`, which binds the
            # listen ports too) use the file capability on
            # /usr/lib/portico/nginx: it needs exec without no_new_privs
            # and NET_BIND_SERVICE in the bounding set.
            assert "--nginx-binary=/usr/lib/portico/nginx" in c["args"]
            assert sc["capabilities"]["add"] == ["NET_BIND_SERVICE"]
            assert sc["allowPrivilegeEscalation"] is True
        else:
            assert "add" not in sc["capabilities"]
            assert sc["allowPrivilegeEscalation"] is False


def test_nginx_on_high_ports_needs_no_capability_at_all():
    c = containers_of("--set", "nginx.ports.http=8080,nginx.ports.https=8443")
    for name in ("nginx", "controller"):
        sc = c[name]["securityContext"]
        assert "add" not in sc["capabilities"]
        assert sc["allowPrivilegeEscalation"] is False
        assert not [a for a in c[name]["args"] if "nginx-binary" in a]
    assert "--http-port=8080" in c["controller"]["args"]


def test_drain_and_grace_period_are_wired_to_the_nginx_container():
    d = deployment("--set", "terminationGracePeriodSeconds=90,"
                   "nginx.drainPeriod=15s,nginx.workerShutdownTimeout=60s")
    pod = d["spec"]["template"]["spec"]
    c = {c["name"]: c for c in pod["containers"]}
    assert pod["terminationGracePeriodSeconds"] == 90
    assert "--role=nginx" in c["nginx"]["args"]
    assert "--drain-period=15s" in c["nginx"]["args"]
    assert "--shutdown-timeout=85s" in c["nginx"]["args"]
    assert "--role=controller" in c["controller"]["args"]
    assert "--worker-shutdown-timeout=60s" in c["controller"]["args"]


@pytest.mark.parametrize("values,kinds", [
    ([], {"PodDisruptionBudget"}),
    (["--set", "replicaCount=1"], set()),
    (["--set", "replicaCount=1,podDisruptionBudget.maxUnavailable=1"],
     {"PodDisruptionBudget"}),
    (["--set", "autoscaling.enabled=true"],
     {"PodDisruptionBudget", "HorizontalPodAutoscaler"}),
    (["--set", "metrics.serviceMonitor.enabled=true,"
      "metrics.podMonitor.enabled=true,replicaCount=1"],
     {"ServiceMonitor", "PodMonitor"}),
], ids=["two-replicas", "one-replica", "max-unavailable", "hpa", "monitors"])
def test_optional_objects_appear_only_when_they_make_sense(values, kinds):
    optional = {"PodDisruptionBudget", "HorizontalPodAutoscaler",
                "ServiceMonitor", "PodMonitor"}
    docs = render(*values)
    assert {d["kind"] for d in docs} & optional == kinds
    if "HorizontalPodAutoscaler" in kinds:
        assert "replicas" not in next(
            d for d in docs if d["kind"] == "Deployment")["spec"]
    if "ServiceMonitor" in kinds:
        sm = next(d for d in docs if d["kind"] == "ServiceMonitor")
        pm = next(d for d in docs if d["kind"] == "PodMonitor")
        ports = {"metrics", "dns-metrics"}
        assert {e["port"] for e in sm["spec"]["endpoints"]} == ports
        assert {e["port"] for e in pm["spec"]["podMetricsEndpoints"]} == ports


def test_operator_settings_reach_the_pod():
    d = deployment(
        "--set", "priorityClassName=critical,image.digest=sha256:" + "a" * 64,
        "--set-json", 'topologySpreadConstraints=[{"maxSkew":1,'
        '"topologyKey":"kubernetes.io/hostname",'
        '"whenUnsatisfiable":"DoNotSchedule"}]',
        "--set-json", 'controller.extraEnv=[{"name":"X","value":"1"}]',
        "--set-json", 'extraVolumes=[{"name":"extra","emptyDir":{}}]',
        "--set-json", 'controller.extraVolumeMounts=[{"name":"extra",'
        '"mountPath":"/extra"}]',
        "--set", "controller.readinessProbe.periodSeconds=7")
    pod = d["spec"]["template"]["spec"]
    c = {c["name"]: c for c in pod["containers"]}
    assert pod["priorityClassName"] == "critical"
    assert pod["topologySpreadConstraints"][0]["maxSkew"] == 1
    assert {"name": "X", "value": "1"} in c["controller"]["env"]
    assert {"name": "extra", "emptyDir": {}} in pod["volumes"]
    assert {"name": "extra", "mountPath": "/extra"} in \
        c["controller"]["volumeMounts"]
    assert c["controller"]["readinessProbe"]["periodSeconds"] == 7
    assert all(x["image"] == "localhost/portico@sha256:" + "a" * 64
               for x in pod["containers"])


OPERATOR_FLAGS = [
    "--set", "controller.annotationsPrefix=ingress.example.com,"
    "controller.electionID=edge-leader,controller.debounce=250ms,"
    "controller.limitZoneSize=10m,controller.authCacheSize=20m,"
    "controller.clientAddress."
    "useForwardedHeaders=true,controller.clientAddress.forwardedForHeader="
    "X-Real-Forwarded-For,nginx.upstreams.resolveTTL.min=2s,"
    "nginx.upstreams.resolveTTL.max=1m,nginx.upstreams.resolverSockets=4",
    "--set-json", 'controller.clientAddress.proxyRealIPCIDR='
    '["10.0.0.0/8","fd00::/8"]']


def controller_accepts(args, tmp_path):
    """The controller's flag checks (--check parses and checks every flag,
    then reads an empty folder): None, or what it said."""
    p = subprocess.run([str(testbed.BUILD / "portico-controller"), *args,
                        f"--check={tmp_path}"], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True, timeout=20)
    return None if p.returncode == 0 else p.stdout


@pytest.mark.parametrize("values", [[], OPERATOR_FLAGS],
                         ids=["defaults", "operator-flags"])
def test_the_controller_accepts_every_rendered_value(values, tmp_path):
    assert controller_accepts(containers_of(*values)["controller"]["args"],
                              tmp_path) is None


def test_operator_flags_reach_the_controller():
    args = containers_of(*OPERATOR_FLAGS)["controller"]["args"]
    for want in ["--annotations-prefix=ingress.example.com",
                 "--election-id=edge-leader", "--debounce=250ms",
                 "--limit-zone-size=10m", "--auth-cache-size=20m",
                 "--use-forwarded-headers",
                 "--forwarded-for-header=X-Real-Forwarded-For",
                 "--proxy-real-ip-cidr=10.0.0.0/8,fd00::/8",
                 "--resolve-ttl=2s,1m", "--resolver-sockets=4"]:
        assert want in args
    assert "--use-proxy-protocol" not in args
    assert "--allow-unenforced-access-annotations" not in args
    defaults = containers_of()["controller"]["args"]
    assert "--annotations-prefix=nginx.ingress.kubernetes.io" in defaults
    assert not [a for a in defaults if a.startswith(
        ("--use-", "--proxy-real-ip-cidr", "--forwarded-for-header"))]


def test_annotation_prefix_switch_and_unenforced_access_reach_the_controller():
    args = containers_of("--set", "controller.ingressNginxAnnotations=false,"
                         "controller.allowUnenforcedAccessAnnotations=true"
                         )["controller"]["args"]
    assert "--ingress-nginx-annotations=false" in args
    assert not [a for a in args if a.startswith("--annotations-prefix")]
    assert "--allow-unenforced-access-annotations" in args


def test_proxy_protocol_reaches_the_controller(tmp_path):
    args = containers_of(
        "--set", "controller.clientAddress.useProxyProtocol=true",
        "--set-json", 'controller.clientAddress.proxyRealIPCIDR=["0.0.0.0/0"]'
    )["controller"]["args"]
    assert "--use-proxy-protocol" in args
    assert "--use-forwarded-headers" not in args
    assert "--proxy-real-ip-cidr=0.0.0.0/0" in args
    assert controller_accepts(args, tmp_path) is None


def test_operator_flags_lint_clean():
    p = helm("lint", "--strict", str(CHART), *OPERATOR_FLAGS)
    assert p.returncode == 0, p.stdout


@pytest.mark.parametrize("bad", [
    "replicaCount=-1", "controller.logLevel=loud", "dnscache.port=53",
    "image.digest=latest", "nginx.drainPeriod=ten", "service.type=Magic",
    "securityContext.allowPrivilegeEscalation=true",
    "podSecurityContext.runAsNonRoot=false", "no.such.value=1",
    "vault.address=vault:8200",
    "controller.annotationsPrefix=portico.io",
    "controller.annotationsPrefix=Nginx/x", "controller.debounce=soon",
    "controller.electionID=Leader!", "controller.limitZoneSize=5mb",
    "controller.authCacheSize=10 m",
    "controller.clientAddress.forwardedForHeader=X-F:evil",
    "controller.clientAddress.proxyRealIPCIDR[0]=10.0.0.0/8;allow",
    "nginx.upstreams.resolveTTL.min=1ms", "nginx.upstreams.resolverSockets=0",
    "controller.ingressNginxAnnotations=maybe",
])
def test_schema_refuses_bad_values(bad):
    p = helm("lint", "--strict", str(CHART), "--set", bad)
    assert p.returncode != 0
    assert "values don't meet the specifications of the schema" in p.stdout


@pytest.mark.parametrize("values,message", [
    ("vault.enabled=true", "vault.enabled=true needs vault.address"),
    ("nginx.drainPeriod=30s",
     "must fit in terminationGracePeriodSeconds"),
    ("autoscaling.enabled=true,autoscaling.minReplicas=5,"
     "autoscaling.maxReplicas=2", "minReplicas is larger"),
    ("controller.clientAddress.useForwardedHeaders=true",
     "needs proxyRealIPCIDR"),
    ("controller.clientAddress.useProxyProtocol=true,"
     "controller.clientAddress.useForwardedHeaders=true,"
     "controller.clientAddress.proxyRealIPCIDR[0]=10.0.0.0/8",
     "together are not supported"),
    ("nginx.upstreams.resolveTTL.min=2m,nginx.upstreams.resolveTTL.max=30s",
     "min (2m) is larger than max (30s)"),
])
def test_contradictions_fail_with_a_reason(values, message):
    p = helm("template", "rel", str(CHART), "--set", values)
    assert p.returncode != 0
    assert message in p.stdout


def test_nginx_globals_are_a_configmap_the_controller_reads():
    values = ["--set-string", "nginx.config.keep-alive=30s,"
              "nginx.config.proxy-read-timeout=120s"]
    docs = render(*values)
    cm = next(d for d in docs if d["kind"] == "ConfigMap")
    assert cm["data"] == {"keep-alive": "30s", "proxy-read-timeout": "120s"}
    pod = next(d for d in docs if d["kind"] == "Deployment")[
        "spec"]["template"]
    c = {c["name"]: c for c in pod["spec"]["containers"]}["controller"]
    assert "--nginx-config=/etc/portico/nginx-config" in c["args"]
    assert {"name": "nginx-config", "mountPath": "/etc/portico/nginx-config",
            "readOnly": True} in c["volumeMounts"]
    # The pod rolls when the globals change.
    other = next(d for d in render() if d["kind"] == "Deployment")[
        "spec"]["template"]["metadata"]["annotations"]
    assert pod["metadata"]["annotations"]["checksum/nginx-config"] != \
        other["checksum/nginx-config"]
    p = helm("lint", "--strict", str(CHART), "--set",
             "nginx.config.no-such-key=1")
    assert p.returncode != 0
