"""`portico-controller --check`: the lint mode, on a corpus of
ingress-nginx manifests written from its documented examples
(tests/lint-corpus/, one file per example with the expected verdict of
each Ingress and the expected outcome of each annotation in its header),
read as a file, as a folder, and as `kubectl get ingress -A -o yaml` on
stdin; text and JSON output; exit status 0 (all served), 1 (something
refused), 2 (unreadable input)."""
import json
import pathlib
import re
import subprocess

import pytest
import yaml

from testbed.controller import CONTROLLER

CORPUS = pathlib.Path(__file__).resolve().parents[1] / "lint-corpus"
FILES = sorted(CORPUS.glob("*.yaml"))


def check(*args, stdin=None):
    r = subprocess.run([CONTROLLER, "--check", *args], input=stdin,
                       capture_output=True, text=True, timeout=30)
    return r


def expectations(path):
    text = path.read_text()
    verdicts = dict(re.findall(r"^# expect (\S+): (\S+)$", text, re.M))
    anns = {(who, key): outcome for who, key, outcome in re.findall(
        r"^# annotation (\S+) (\S+): (\S+)$", text, re.M)}
    return verdicts, anns


def verdicts_of(doc):
    return {f"{i['namespace']}/{i['name']}": i["verdict"]
            for i in doc["ingresses"]}


def outcomes_of(doc):
    return {(f"{i['namespace']}/{i['name']}", a["key"]): a["outcome"]
            for i in doc["ingresses"] for a in i["annotations"]}


def test_the_corpus_has_at_least_thirty_documented_examples():
    assert len(FILES) >= 30
    for f in FILES:
        assert f.read_text().startswith("# From: "), f
        assert expectations(f)[0], f


@pytest.mark.parametrize("path", FILES, ids=[f.stem for f in FILES])
def test_each_manifest_gets_its_expected_verdict(path):
    verdicts, anns = expectations(path)
    r = check(str(path), "--output=json")
    doc = json.loads(r.stdout)
    assert verdicts_of(doc) == verdicts
    assert outcomes_of(doc) == anns
    refused = [v for v in verdicts.values() if v == "refused"]
    assert r.returncode == (1 if refused else 0), r.stderr
    for i in doc["ingresses"]:
        who = f"{i['namespace']}/{i['name']}"
        if i["verdict"] == "served":
            assert i["reason"] is None
            continue
        # The reason names every annotation that refuses the Ingress, or
        # the regex path that does.
        assert i["reason"].startswith(("annotation", "path ")), who
        for a in i["annotations"]:
            if a["outcome"] == "refused":
                assert a["key"] in i["reason"], who
    assert doc["summary"] == {"ingresses": len(verdicts),
                              "served": len(verdicts) - len(refused),
                              "refused": len(refused),
                              "services_checked": False}


def kubectl_list():
    """The corpus as `kubectl get ingress -A -o yaml` prints it: one
    List, with the fields the API server adds."""
    items = []
    for f in FILES:
        for d in yaml.safe_load_all(f.read_text()):
            d["metadata"].update({
                "uid": f"{len(items):08d}-0000-4000-8000-000000000000",
                "resourceVersion": str(1000 + len(items)),
                "generation": 1,
                "creationTimestamp": "2026-01-0%dT00:00:00Z" % (
                    1 + len(items) % 9),
                "managedFields": [{"manager": "kubectl", "operation":
                                   "Update", "apiVersion":
                                   "networking.k8s.io/v1"}]})
            d["status"] = {"loadBalancer": {"ingress": [{"ip":
                                                          "203.0.113.7"}]}}
            items.append(d)
    return yaml.safe_dump({"apiVersion": "v1", "kind": "List", "items": items,
                           "metadata": {"resourceVersion": ""}})


def all_expectations():
    verdicts, anns = {}, {}
    for f in FILES:
        v, a = expectations(f)
        verdicts.update(v)
        anns.update(a)
    return verdicts, anns


def test_kubectl_get_ingress_yaml_on_stdin_gives_the_same_verdicts():
    verdicts, anns = all_expectations()
    r = check("-", "--output=json", stdin=kubectl_list())
    doc = json.loads(r.stdout)
    assert r.returncode == 1
    assert verdicts_of(doc) == verdicts
    assert outcomes_of(doc) == anns
    assert all(i["class"] in ("nginx", "portico") for i in doc["ingresses"])


def test_a_folder_is_read_like_local_mode_and_printed_as_text():
    verdicts, _ = all_expectations()
    r = check(str(CORPUS))
    assert r.returncode == 1
    lines = r.stdout.splitlines()
    served = sum(v == "served" for v in verdicts.values())
    assert lines[-1] == (f"{len(verdicts)} Ingresses: {served} served, "
                         f"{len(verdicts) - served} refused (no Services in "
                         f"the input: backends not checked)")
    for who, v in verdicts.items():
        assert any(l.startswith(f"{who}: {'served' if v == 'served' else 'REFUSED'} (class ")
                   for l in lines), who
    # Every annotation is listed under its Ingress with its outcome.
    assert re.search(r"^  refused    nginx\.ingress\.kubernetes\.io/"
                     r"enable-modsecurity: ModSecurity \(web application "
                     r"firewall\) is not implemented", r.stdout, re.M)
    assert re.search(r"^  supported  nginx\.ingress\.kubernetes\.io/"
                     r"whitelist-source-range: access control in the "
                     r"Ingress's profile", r.stdout, re.M)
    assert re.search(r"^  supported  nginx\.ingress\.kubernetes\.io/"
                     r"proxy-body-size: client_max_body_size 8m ",
                     r.stdout, re.M)
    assert re.search(r"^  unknown    portico\.io/proxy-body-szie: ",
                     r.stdout, re.M)
    # An Ingress of class nginx is not Portico's until its class changes.
    assert "(class nginx; not selected by Portico as configured)" in r.stdout


def test_the_controllers_annotation_flags_apply_to_the_check():
    path = str(CORPUS / "32-modsecurity.yaml")
    r = check(path, "--output=json", "--allow-unenforced-access-annotations")
    doc = json.loads(r.stdout)
    assert r.returncode == 0
    assert [a["outcome"] for a in doc["ingresses"][0]["annotations"]] == \
        ["unenforced", "unenforced", "ignored"]
    r = check(str(CORPUS / "06-app-root.yaml"), "--output=json",
              "--ingress-nginx-annotations=false")
    assert r.returncode == 0
    assert json.loads(r.stdout)["ingresses"][0]["annotations"] == []


def test_unreadable_input_exits_2_and_the_rest_is_still_checked(tmp_path):
    (tmp_path / "good.yaml").write_text((CORPUS / "01-plain.yaml").read_text())
    (tmp_path / "broken.yaml").write_text("kind: Ingress\nmetadata: [\n")
    r = check(str(tmp_path), "--output=json")
    doc = json.loads(r.stdout)
    assert r.returncode == 2
    assert verdicts_of(doc) == {"default/plain": "served"}
    assert len(doc["errors"]) == 1 and "broken.yaml: line " in \
        doc["errors"][0]
    r = check(str(tmp_path / "missing.yaml"))
    assert r.returncode == 2 and "missing.yaml" in r.stdout


def test_services_in_the_input_are_checked_too(tmp_path):
    f = tmp_path / "with-services.yaml"
    f.write_text((CORPUS / "01-plain.yaml").read_text() + "---\n"
                 "apiVersion: v1\nkind: Service\nmetadata: {name: other, "
                 "namespace: default}\nspec: {ports: [{port: 80}]}\n")
    r = check(str(f), "--output=json")
    doc = json.loads(r.stdout)
    assert doc["summary"]["services_checked"] is True
    assert any("Service default/http-svc not found" in w
               for w in doc["ingresses"][0]["warnings"])


def test_the_migration_guide_lists_every_annotation_with_its_state():
    """docs/migrating-from-ingress-nginx.md has one row per ingress-nginx
    annotation, and the state it states is the controller's own."""
    root = CORPUS.parent.parent
    names = [l.strip() for l in (root / "tests/data/ingress-nginx-"
                                 "annotations.txt").read_text().splitlines()
             if l.strip() and not l.startswith("#")]
    r = subprocess.run([CONTROLLER, "--list-annotations"],
                       capture_output=True, text=True, timeout=10)
    assert r.returncode == 0
    table = {d["name"]: d for d in json.loads(r.stdout)}
    doc = (root / "docs/migrating-from-ingress-nginx.md").read_text()
    rows = re.findall(r"^\| `([a-z0-9-]+)` \| (supported|refused|ignored)"
                      r"( \((?:fail closed|snippet)\))? \|", doc, re.M)
    assert sorted(n for n, _, _ in rows) == sorted(names)
    for name, state, mark in rows:
        d = table[name]
        assert d["state"] == state, name
        if state == "refused":
            assert (mark == " (snippet)") == d["snippet"], name
            assert (mark == " (fail closed)") == (d["access"] and
                                                  not d["snippet"]), name
    counts = {s: sum(st == s for _, st, _ in rows)
              for s in ("supported", "refused", "ignored")}
    assert (f"{counts['supported']} supported, {counts['refused']} refused, "
            f"{counts['ignored']} ignored, of ingress-nginx's {len(names)}"
            in doc)
