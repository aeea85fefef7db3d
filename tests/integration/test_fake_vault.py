"""The Vault stand-in (tests/fakes/vault) behaves like the real server on
every status a client of ours must handle. Facts are from
/work/shared/reference/protocols.md section 2."""

import base64
import datetime
import json
import os
import signal
import socket
import ssl
import subprocess
import time

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID

import testbed
from testbed import certs

DENIED = ["1 error occurred:\n\t* permission denied\n\n"]
ENVELOPE_KEYS = {"request_id", "lease_id", "renewable", "lease_duration", "data",
                 "wrap_info", "warnings", "auth", "mount_type"}
VAULT = str(testbed.FAKES / "vault")


# --- sys/health and the seal ------------------------------------------------

def test_health_of_a_dev_server_is_200_initialised_unsealed_active(fake_vault):
    status, body = fake_vault.request("GET", "sys/health", token=None)
    assert status == 200
    assert body["initialized"] is True and body["sealed"] is False and body["standby"] is False
    for key in ("performance_standby", "replication_performance_mode", "replication_dr_mode",
                "server_time_utc", "version", "cluster_name", "cluster_id"):
        assert key in body


def test_health_head_answers_the_status_without_a_body(fake_vault):
    fake_vault.seal()
    status, _h, data = fake_vault.raw("HEAD", "/v1/sys/health")
    assert (status, data) == (503, b"")


def test_health_codes_follow_state_and_query_overrides(fake_vault):
    def code(query=""):
        return fake_vault.raw("GET", "/v1/sys/health" + query)[0]

    assert code("?activecode=204") == 204
    fake_vault.set_state(standby=True)
    assert code() == 429
    assert code("?standbyok=true") == 200
    assert code("?standbycode=299") == 299
    fake_vault.set_state(standby=False, performance_standby=True)
    assert code() == 473
    assert code("?perfstandbyok=true") == 200
    fake_vault.set_state(performance_standby=False)
    fake_vault.seal()
    assert code() == 503
    assert code("?sealedcode=200") == 200
    fake_vault.set_state(initialized=False)
    assert code() == 501
    assert code("?uninitcode=200") == 200
    assert code("?sealedcode=abc") == 400


def test_health_rejects_other_methods_with_405(fake_vault):
    status, body = fake_vault.request("DELETE", "sys/health", token=None)
    assert status == 405 and body == {"errors": []}


def test_sealed_vault_answers_503_to_everything_but_health_and_seal_status(fake_vault):
    fake_vault.kv_put("ssl/a", {"crt": "c"})
    status, _ = fake_vault.request("PUT", "sys/seal")
    assert status == 204
    status, body = fake_vault.request("GET", "secret/data/ssl/a")
    assert status == 503 and body == {"errors": ["Vault is sealed"]}
    status, _h, _d = fake_vault.raw("GET", "/v1/secret/data/ssl/a", headers={"Content-Type": "application/json"})
    assert _h["Content-Type"] == "application/json"
    status, body = fake_vault.request("GET", "sys/seal-status", token=None)
    assert status == 200 and body["sealed"] is True and body["t"] == 1 and body["n"] == 1
    status, body = fake_vault.request("PUT", "sys/unseal", {"key": "bm90IHRoZSBrZXk="}, token=None)
    assert (status, body) == (400, {"errors": ["Unseal failed, invalid key"]})
    status, body = fake_vault.request("PUT", "sys/unseal", {"key": "%%%"}, token=None)
    assert (status, body) == (400, {"errors": ["'key' must be a valid hex or base64 string"]})
    key = fake_vault.admin("GET", "info")["unseal_key"]
    assert len(base64.b64decode(key)) == 32            # one 256-bit key, like -dev
    status, body = fake_vault.request("PUT", "sys/unseal", {"key": key}, token=None)
    assert status == 200 and body["sealed"] is False
    assert fake_vault.request("GET", "secret/data/ssl/a")[0] == 200


def test_sealing_needs_sudo(fake_vault):
    fake_vault.add_policy("kv", 'path "sys/seal" { capabilities = ["update"] }')
    tok = fake_vault.create_token(["kv"])
    assert fake_vault.request("PUT", "sys/seal", token=tok) == (403, {"errors": DENIED})


# --- KV v2 ---------------------------------------------------------------------

def test_kv2_write_returns_version_metadata_and_read_returns_the_envelope(fake_vault):
    status, body = fake_vault.request("POST", "secret/data/ssl/a.example.com",
                                      {"data": {"crt": "C1", "key": "K1"}})
    assert status == 200 and body["data"]["version"] == 1 and body["data"]["destroyed"] is False
    fake_vault.request("POST", "secret/data/ssl/a.example.com", {"data": {"crt": "C2", "key": "K2"}})
    status, body = fake_vault.request("GET", "secret/data/ssl/a.example.com")
    assert status == 200 and set(body) == ENVELOPE_KEYS
    assert body["data"]["data"] == {"crt": "C2", "key": "K2"}
    assert body["data"]["metadata"]["version"] == 2 and body["data"]["metadata"]["deletion_time"] == ""
    assert body["mount_type"] == "kv" and body["lease_duration"] == 0
    status, body = fake_vault.request("GET", "secret/data/ssl/a.example.com?version=1")
    assert status == 200 and body["data"]["data"]["crt"] == "C1"
    assert fake_vault.request("GET", "secret/data/ssl/a.example.com?version=9") == (404, {"errors": []})


def test_kv2_check_and_set_rejects_a_stale_version_with_400(fake_vault):
    assert fake_vault.request("POST", "secret/data/x", {"options": {"cas": 0}, "data": {"a": 1}})[0] == 200
    status, body = fake_vault.request("POST", "secret/data/x", {"options": {"cas": 0}, "data": {"a": 2}})
    assert status == 400 and "check-and-set" in body["errors"][0]
    assert fake_vault.request("POST", "secret/data/x", {"options": {"cas": 1}, "data": {"a": 2}})[0] == 200
    status, body = fake_vault.request("POST", "secret/data/x", {"nodata": 1})
    assert status == 400 and body == {"errors": ["no data provided"]}


def test_kv2_missing_key_is_404_with_empty_errors(fake_vault):
    status, hdrs, data = fake_vault.raw("GET", "/v1/secret/data/nope",
                                        headers={"X-Vault-Token": fake_vault.root_token})
    assert status == 404 and json.loads(data) == {"errors": []}
    assert hdrs["Content-Type"] == "application/json"


def test_kv2_deleted_and_destroyed_versions_are_404_with_a_full_envelope(fake_vault):
    fake_vault.kv_put("ssl/h", {"crt": "1"})
    fake_vault.kv_put("ssl/h", {"crt": "2"})
    assert fake_vault.request("DELETE", "secret/data/ssl/h")[0] == 204
    status, body = fake_vault.request("GET", "secret/data/ssl/h")
    assert status == 404 and set(body) == ENVELOPE_KEYS
    assert body["data"]["data"] is None and body["data"]["metadata"]["deletion_time"] != ""
    assert fake_vault.request("POST", "secret/undelete/ssl/h", {"versions": [2]})[0] == 204
    assert fake_vault.request("GET", "secret/data/ssl/h")[1]["data"]["data"] == {"crt": "2"}
    assert fake_vault.request("PUT", "secret/destroy/ssl/h", {"versions": [1]})[0] == 204
    status, body = fake_vault.request("GET", "secret/data/ssl/h?version=1")
    assert status == 404 and body["data"]["data"] is None
    assert body["data"]["metadata"]["destroyed"] is True
    assert fake_vault.request("POST", "secret/delete/ssl/h", {"versions": [2]})[0] == 204
    assert fake_vault.request("GET", "secret/data/ssl/h")[0] == 404


def test_kv2_v1_style_path_is_404_with_the_invalid_path_warning(fake_vault):
    fake_vault.kv_put("ssl/h", {"crt": "1"})
    status, body = fake_vault.request("GET", "secret/ssl/h")
    assert status == 404 and body["data"] is None
    assert body["warnings"][0].startswith("Invalid path for a versioned K/V secrets engine")


def test_kv2_metadata_lists_versions_and_list_works_by_method_and_query(fake_vault):
    fake_vault.kv_put("ssl/a.example.com", {"crt": "1"})
    fake_vault.kv_put("ssl/a.example.com", {"crt": "2"})
    fake_vault.kv_put("ssl/deep/b.example.com", {"crt": "1"})
    status, body = fake_vault.request("GET", "secret/metadata/ssl/a.example.com")
    assert status == 200 and body["data"]["current_version"] == 2
    assert set(body["data"]["versions"]) == {"1", "2"} and body["data"]["oldest_version"] == 1
    status, body = fake_vault.request("LIST", "secret/metadata/ssl")
    assert status == 200 and body["data"]["keys"] == ["a.example.com", "deep/"]
    status, body = fake_vault.request("GET", "secret/metadata/ssl/?list=true")
    assert body["data"]["keys"] == ["a.example.com", "deep/"]
    assert fake_vault.request("LIST", "secret/metadata/empty") == (404, {"errors": []})
    assert fake_vault.request("DELETE", "secret/metadata/ssl/a.example.com")[0] == 204
    assert fake_vault.request("GET", "secret/data/ssl/a.example.com") == (404, {"errors": []})


def test_kv2_list_on_the_data_path_is_an_unsupported_operation_405(fake_vault):
    fake_vault.kv_put("ssl/a", {"crt": "1"})
    status, body = fake_vault.request("LIST", "secret/data/ssl")
    assert status == 405 and body == {"errors": ["1 error occurred:\n\t* unsupported operation\n\n"]}


# --- KV v1 and mount detection ---------------------------------------------------

def test_kv1_write_is_204_read_has_lease_duration_delete_and_list(fake_vault):
    assert fake_vault.request("PUT", "kv1/ssl/a.example.com", {"crt": "C", "key": "K"}) == (204, None)
    status, body = fake_vault.request("GET", "kv1/ssl/a.example.com")
    assert status == 200 and body["data"] == {"crt": "C", "key": "K"}
    assert body["lease_duration"] == 2764800 and body["renewable"] is False
    fake_vault.request("PUT", "kv1/ssl/b", {"crt": "C", "ttl": "1h"})
    assert fake_vault.request("GET", "kv1/ssl/b")[1]["lease_duration"] == 3600
    assert fake_vault.request("LIST", "kv1/ssl")[1]["data"]["keys"] == ["a.example.com", "b"]
    assert fake_vault.request("DELETE", "kv1/ssl/a.example.com")[0] == 204
    assert fake_vault.request("GET", "kv1/ssl/a.example.com") == (404, {"errors": []})


def test_kv_version_is_visible_in_sys_mounts_and_ui_mounts(fake_vault):
    status, body = fake_vault.request("GET", "sys/mounts")
    assert status == 200
    assert body["data"]["secret/"]["options"] == {"version": "2"}
    assert body["data"]["kv1/"]["options"] == {"version": "1"}
    status, body = fake_vault.request("GET", "sys/internal/ui/mounts/secret/ssl/x")
    assert status == 200 and body["data"]["type"] == "kv"
    assert body["data"]["options"] == {"version": "2"} and body["data"]["path"] == "secret/"
    fake_vault.mount("plain", "kv")                 # `vault secrets enable -path=plain kv`
    assert fake_vault.request("GET", "sys/internal/ui/mounts/plain")[1]["data"]["options"] is None
    assert fake_vault.request("PUT", "plain/x", {"a": "b"})[0] == 204      # a KV v1 write
    fake_vault.mount("v2", "kv-v2")
    assert fake_vault.request("GET", "sys/internal/ui/mounts/v2")[1]["data"]["options"] == {"version": "2"}
    assert fake_vault.request("POST", "sys/mounts/v2", {"type": "kv"})[0] == 400     # path in use
    fake_vault.add_policy("ssl", 'path "secret/data/ssl/*" { capabilities = ["read"] }')
    tok = fake_vault.create_token(["ssl"])
    assert fake_vault.request("GET", "sys/internal/ui/mounts/secret", token=tok)[0] == 200
    assert fake_vault.request("GET", "sys/internal/ui/mounts/kv1", token=tok)[0] == 403


def test_bad_json_body_is_400_and_unknown_route_is_404(fake_vault):
    status, body = fake_vault.request("POST", "secret/data/x", "{not json")
    assert status == 400 and body["errors"][0].startswith("failed to parse JSON input")
    status, body = fake_vault.request("GET", "nomount/x")
    assert status == 404 and "no handler for route" in body["errors"][0]


# --- tokens and policies ------------------------------------------------------------

def test_requests_without_a_valid_token_are_403_permission_denied(fake_vault):
    fake_vault.kv_put("ssl/a", {"crt": "1"})
    assert fake_vault.request("GET", "secret/data/ssl/a", token=None) == (403, {"errors": DENIED})
    assert fake_vault.request("GET", "secret/data/ssl/a", token="hvs.bogus") == (403, {"errors": DENIED})
    status, _ = fake_vault.request("GET", "secret/data/ssl/a", token=None,
                                   headers={"Authorization": "Bearer " + fake_vault.root_token})
    assert status == 200


def test_policy_globs_plus_segments_and_deny_decide_access(fake_vault):
    fake_vault.add_policy("ssl", '''
        # the controller's policy
        path "secret/data/ssl/*"      { capabilities = ["read"] }
        path "secret/metadata/ssl/*"  { capabilities = ["list"] }
        path "secret/data/ssl/secret-*" { capabilities = ["deny"] }
        path "secret/data/+/shared"   { capabilities = ["read", "create"] }
    ''')
    tok = fake_vault.create_token(["ssl"])
    for p in ("ssl/a.example.com", "ssl/secret-x", "team/shared", "other/x"):
        fake_vault.kv_put(p, {"v": "1"})
    assert fake_vault.request("GET", "secret/data/ssl/a.example.com", token=tok)[0] == 200
    assert fake_vault.request("GET", "secret/data/ssl/secret-x", token=tok)[0] == 403
    assert fake_vault.request("GET", "secret/data/team/shared", token=tok)[0] == 200
    assert fake_vault.request("GET", "secret/data/other/x", token=tok)[0] == 403
    assert fake_vault.request("LIST", "secret/metadata/ssl/", token=tok)[0] == 200
    # create is not update: overwriting an existing secret needs update
    assert fake_vault.request("POST", "secret/data/team/shared", {"data": {"v": 2}}, token=tok)[0] == 403
    assert fake_vault.request("POST", "secret/data/new/shared", {"data": {"v": 2}}, token=tok)[0] == 200
    assert fake_vault.request("DELETE", "secret/data/ssl/a.example.com", token=tok)[0] == 403


def test_policies_can_be_read_back_and_listed(fake_vault):
    hcl = 'path "secret/data/ssl/*" { capabilities = ["read"] }'
    fake_vault.add_policy("ssl", hcl)
    status, body = fake_vault.request("GET", "sys/policies/acl/ssl")
    assert status == 200 and body["data"]["name"] == "ssl" and body["data"]["policy"] == hcl
    assert "ssl" in fake_vault.request("LIST", "sys/policies/acl")[1]["data"]["keys"]
    assert "ssl" in fake_vault.request("GET", "sys/policy")[1]["data"]["policies"]
    assert fake_vault.request("DELETE", "sys/policies/acl/ssl")[0] == 204
    assert fake_vault.request("GET", "sys/policies/acl/ssl") == (404, {"errors": []})


def test_bad_policy_text_is_400(fake_vault):
    status, body = fake_vault.request("PUT", "sys/policies/acl/bad",
                                      {"policy": 'path "x" { capabilities = ["fly"] }'})
    assert status == 400 and "invalid capability" in body["errors"][0]


def test_token_create_lookup_self_and_child_policy_subset(fake_vault):
    fake_vault.add_policy("ssl", 'path "secret/data/ssl/*" { capabilities = ["read"] }\n'
                                 'path "auth/token/create" { capabilities = ["update"] }')
    status, body = fake_vault.request("POST", "auth/token/create", {"policies": ["ssl"], "ttl": "1h"})
    assert status == 200 and body["data"] is None
    auth = body["auth"]
    assert auth["policies"] == ["default", "ssl"] and auth["lease_duration"] == 3600 and auth["renewable"]
    status, body = fake_vault.request("GET", "auth/token/lookup-self", token=auth["client_token"])
    assert status == 200
    d = body["data"]
    assert d["accessor"] == auth["accessor"] and d["policies"] == ["default", "ssl"]
    assert 3590 <= d["ttl"] <= 3600 and d["creation_ttl"] == 3600 and d["expire_time"]
    status, body = fake_vault.request("POST", "auth/token/create", {"policies": ["root"]},
                                      token=auth["client_token"])
    assert status == 400
    status, body = fake_vault.request("POST", "auth/token/create", {"policies": ["other"]},
                                      token=auth["client_token"])
    assert status == 400 and body == {"errors": ["child policies must be subset of parent"]}


def test_expired_token_is_403_like_an_unknown_one(fake_vault):
    tok = fake_vault.create_token(["default"], ttl="2s")
    assert fake_vault.request("GET", "auth/token/lookup-self", token=tok)[0] == 200
    time.sleep(2.2)
    assert fake_vault.request("GET", "auth/token/lookup-self", token=tok) == (403, {"errors": DENIED})
    tok2 = fake_vault.create_token(["default"], ttl="1h")
    fake_vault.expire_token(tok2)
    assert fake_vault.request("GET", "auth/token/lookup-self", token=tok2)[0] == 403


def test_renew_self_extends_ttl_up_to_the_max_ttl(fake_vault):
    tok = fake_vault.create_token(["default"], ttl="2s", explicit_max_ttl="30s")
    status, body = fake_vault.request("POST", "auth/token/renew-self", {"increment": "10s"}, token=tok)
    assert status == 200 and body["auth"]["lease_duration"] == 10 and body["auth"]["client_token"] == tok
    time.sleep(2.2)                          # past the original 2 s TTL
    assert fake_vault.request("GET", "auth/token/lookup-self", token=tok)[0] == 200
    status, body = fake_vault.request("POST", "auth/token/renew-self", {"increment": "1h"}, token=tok)
    assert status == 200 and 15 <= body["auth"]["lease_duration"] <= 28     # 30 s cap minus elapsed
    assert "capped" in body["warnings"][0]
    fixed = fake_vault.create_token(["default"], ttl="1h", renewable=False)
    status, body = fake_vault.request("POST", "auth/token/renew-self", {}, token=fixed)
    assert status == 400 and body == {"errors": ["lease is not renewable"]}


def test_limited_use_token_stops_working_after_its_last_use(fake_vault):
    tok = fake_vault.create_token(["default"], num_uses=2)
    assert fake_vault.request("GET", "auth/token/lookup-self", token=tok)[0] == 200
    assert fake_vault.request("GET", "auth/token/lookup-self", token=tok)[0] == 200
    assert fake_vault.request("GET", "auth/token/lookup-self", token=tok)[0] == 403


# --- kubernetes auth ---------------------------------------------------------------

def test_kubernetes_login_returns_a_token_with_the_role_policies(fake_vault):
    fake_vault.add_policy("ssl", 'path "secret/data/ssl/*" { capabilities = ["read"] }')
    fake_vault.add_kubernetes_role("portico", ["portico"], ["ingress"], ["ssl"], ttl="20m")
    fake_vault.kv_put("ssl/a", {"crt": "1"})
    status, body = fake_vault.login_kubernetes("portico", fake_vault.make_jwt("portico", "ingress"))
    assert status == 200 and body["data"] is None
    auth = body["auth"]
    assert auth["policies"] == ["default", "ssl"] and auth["token_policies"] == ["default", "ssl"]
    assert auth["lease_duration"] == 1200 and auth["renewable"] is True and auth["orphan"] is True
    assert auth["token_type"] == "service"
    assert auth["metadata"]["service_account_name"] == "portico"
    assert auth["metadata"]["service_account_namespace"] == "ingress"
    assert auth["metadata"]["role"] == "portico"
    assert fake_vault.request("GET", "secret/data/ssl/a", token=auth["client_token"])[0] == 200
    assert fake_vault.request("GET", "secret/metadata/ssl/a", token=auth["client_token"])[0] == 403
    jwt = fake_vault.make_jwt("portico", "ingress", projected=True)
    assert fake_vault.login_kubernetes("portico", jwt)[0] == 200


def test_kubernetes_login_errors_match_the_real_plugin(fake_vault):
    fake_vault.add_kubernetes_role("portico", ["portico"], ["ingress"], ["default"])
    jwt = fake_vault.make_jwt("portico", "ingress")
    assert fake_vault.login_kubernetes("", jwt) == (400, {"errors": ["missing role"]})
    assert fake_vault.login_kubernetes("portico", "") == (400, {"errors": ["missing jwt"]})
    assert fake_vault.login_kubernetes("x", jwt) == (400, {"errors": ['invalid role name "x"']})
    denied = (403, {"errors": DENIED})
    assert fake_vault.login_kubernetes("portico", fake_vault.make_jwt("other", "ingress")) == \
        (403, {"errors": ["service account name not authorized"]})
    assert fake_vault.login_kubernetes("portico", fake_vault.make_jwt("portico", "default")) == \
        (403, {"errors": ["namespace not authorized"]})
    assert fake_vault.login_kubernetes("portico", fake_vault.make_jwt("portico", "ingress", expires_in=-10)) == denied
    stranger = ec.generate_private_key(ec.SECP256R1())
    assert fake_vault.login_kubernetes("portico", fake_vault.make_jwt("portico", "ingress", key=stranger)) == denied
    assert fake_vault.login_kubernetes("portico", "not.a.jwt") == denied


# --- PKI --------------------------------------------------------------------------

def _pki_role(v, **kw):
    body = {"allowed_domains": ["example.com"], "allow_subdomains": True, "max_ttl": "72h"}
    body.update(kw)
    assert v.request("POST", "pki/roles/web", body)[0] == 204


def test_pki_issue_returns_a_certificate_signed_by_the_ca(fake_vault):
    _pki_role(fake_vault, key_type="ec")
    status, body = fake_vault.request("POST", "pki/issue/web", {
        "common_name": "a.example.com", "alt_names": "b.example.com,*.c.example.com",
        "ip_sans": "127.0.0.5", "ttl": "1h"})
    assert status == 200
    d = body["data"]
    assert set(d) >= {"certificate", "issuing_ca", "ca_chain", "private_key",
                      "private_key_type", "serial_number", "expiration"}
    cert = x509.load_pem_x509_certificate(d["certificate"].encode())
    ca = x509.load_pem_x509_certificate(d["issuing_ca"].encode())
    assert d["ca_chain"] == [d["issuing_ca"]] and d["private_key_type"] == "ec"
    ca.public_key().verify(cert.signature, cert.tbs_certificate_bytes, ec.ECDSA(cert.signature_hash_algorithm))
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["a.example.com", "b.example.com", "*.c.example.com"]
    assert [str(i) for i in san.get_values_for_type(x509.IPAddress)] == ["127.0.0.5"]
    assert ExtendedKeyUsageOID.SERVER_AUTH in cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    key = serialization.load_pem_private_key(d["private_key"].encode(), None)
    assert certs.key_matches(cert, key)
    assert d["expiration"] == int(cert.not_valid_after.replace(tzinfo=datetime.timezone.utc).timestamp())
    assert 3500 < d["expiration"] - time.time() <= 3600
    assert d["serial_number"] == ":".join("%02x" % b for b in cert.serial_number.to_bytes(
        (cert.serial_number.bit_length() + 7) // 8, "big"))
    status, _h, pem = fake_vault.raw("GET", "/v1/pki/ca/pem")       # unauthenticated
    assert status == 200 and pem.decode().strip() == d["issuing_ca"].strip()


def test_pki_rsa_role_and_ttl_capped_at_max_ttl_with_a_warning(fake_vault):
    _pki_role(fake_vault, max_ttl="2h")
    status, body = fake_vault.request("POST", "pki/issue/web", {"common_name": "a.example.com", "ttl": "10h"})
    assert status == 200 and body["data"]["private_key_type"] == "rsa"
    assert "RSA PRIVATE KEY" in body["data"]["private_key"]
    cert = x509.load_pem_x509_certificate(body["data"]["certificate"].encode())
    ca = x509.load_pem_x509_certificate(body["data"]["issuing_ca"].encode())
    ca.public_key().verify(cert.signature, cert.tbs_certificate_bytes, ec.ECDSA(hashes.SHA256()))
    assert 7100 < body["data"]["expiration"] - time.time() <= 7200
    assert body["warnings"] == ['TTL "10h0m0s" is longer than permitted maxTTL "2h0m0s", so maxTTL is being used']


def test_pki_names_outside_the_role_are_400(fake_vault):
    _pki_role(fake_vault, allow_wildcard_certificates=False)
    for cn, alt in (("evil.org", ""), ("a.example.com", "x.evil.org"), ("*.example.com", ""),
                    ("example.com", "")):
        status, body = fake_vault.request("POST", "pki/issue/web", {"common_name": cn, "alt_names": alt})
        assert status == 400 and "not allowed by this role" in body["errors"][0], (cn, alt)
    status, body = fake_vault.request("POST", "pki/issue/web", {})
    assert status == 400 and "common_name field is required" in body["errors"][0]
    _pki_role(fake_vault, allow_bare_domains=True, key_type="ec")
    assert fake_vault.request("POST", "pki/issue/web", {"common_name": "*.example.com"})[0] == 200
    assert fake_vault.request("POST", "pki/issue/web", {"common_name": "example.com"})[0] == 200


# --- TLS listener ----------------------------------------------------------------

def _tls_get(v, cafile, server_hostname):
    ctx = ssl.create_default_context(cafile=cafile)
    with socket.create_connection((v.host, v.port), timeout=5) as raw:
        with ctx.wrap_socket(raw, server_hostname=server_hostname) as s:
            s.sendall(b"GET /v1/sys/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            return s.recv(100)


def test_tls_listener_verifies_with_the_right_ca_only(fake_vault_tls, tmp_path):
    v = fake_vault_tls
    assert v.addr.startswith("https://127.0.0.1:")
    assert v.request("GET", "sys/health")[0] == 200
    assert _tls_get(v, v.ca_cert_path, "localhost").startswith(b"HTTP/1.1 200")
    other = certs.make_ca("Some Other CA").write_cert(tmp_path / "other-ca.crt")
    with pytest.raises(ssl.SSLCertVerificationError):
        _tls_get(v, other, "localhost")
    with pytest.raises(ssl.SSLCertVerificationError, match="mismatch"):
        _tls_get(v, v.ca_cert_path, "vault.example.com")
    assert v.request("GET", "sys/health")[0] == 200     # still serving after bad handshakes


# --- fault injection and the request log -------------------------------------------

def test_fail_next_answers_500_then_recovers_and_counts_requests(fake_vault):
    fake_vault.kv_put("ssl/a", {"crt": "1"})
    fake_vault.clear_requests()
    fake_vault.fail_next(2, 500, path_prefix="secret/data/ssl/")
    assert fake_vault.request("GET", "sys/health")[0] == 200        # not filtered in
    assert fake_vault.request("GET", "secret/data/ssl/a")[0] == 500
    status, body = fake_vault.request("GET", "secret/data/ssl/a")
    assert status == 500 and body["errors"]
    assert fake_vault.request("GET", "secret/data/ssl/a")[0] == 200
    assert fake_vault.request_counts("secret/") == {"secret/data/ssl/a": 3}
    statuses = [r["status"] for r in fake_vault.requests("secret/data/ssl/a")]
    assert statuses == [500, 500, 200]


def test_rate_limited_requests_get_429_with_the_quota_message(fake_vault):
    fake_vault.fail_next(1, 429, retry_after=2)
    status, hdrs, data = fake_vault.raw("GET", "/v1/secret/data/x")
    assert status == 429 and hdrs["Retry-After"] == "2"
    assert json.loads(data) == {"errors": ['request path "secret/data/x": rate limit quota exceeded']}


def test_delay_hang_and_raw_bad_json_faults(fake_vault):
    fake_vault.delay_next(1, 0.5, path_prefix="sys/health")
    t0 = time.monotonic()
    assert fake_vault.request("GET", "sys/health")[0] == 200
    assert time.monotonic() - t0 >= 0.5
    fake_vault.hang_next(1, 2.0)
    with pytest.raises((socket.timeout, TimeoutError)):
        fake_vault.request("GET", "sys/health", timeout=0.5)
    fake_vault.raw_next(1, '{"data": {"trunc', path_prefix="secret/")
    status, _h, data = fake_vault.raw("GET", "/v1/secret/data/x")
    assert status == 200 and data == b'{"data": {"trunc'


def test_request_log_records_token_presence_and_policies_never_the_token(fake_vault):
    fake_vault.add_policy("ssl", 'path "secret/data/ssl/*" { capabilities = ["read"] }')
    tok = fake_vault.create_token(["ssl"])
    fake_vault.clear_requests()
    fake_vault.request("GET", "secret/data/ssl/a", token=tok)
    fake_vault.request("GET", "secret/data/ssl/a", token=None)
    log = fake_vault.requests("secret/")
    assert [(e["method"], e["token"], e["status"]) for e in log] == [("GET", True, 404), ("GET", False, 403)]
    assert log[0]["policies"] == ["default", "ssl"] and log[0]["accessor"]
    assert tok not in json.dumps(fake_vault.admin("GET", "requests"))


# --- process life ---------------------------------------------------------------

def test_refuses_to_listen_outside_loopback():
    p = subprocess.run([VAULT, "--listen", "0.0.0.0:8200"], capture_output=True, text=True, timeout=10)
    assert p.returncode != 0 and "loopback" in p.stderr


def test_exits_after_max_lifetime(procs):
    port = testbed.free_port()
    p = procs.start("vault-short", [VAULT, "--listen", "127.0.0.1:%d" % port, "--max-lifetime", "1"])
    p.popen.wait(timeout=10)
    assert p.popen.returncode == 0 and "max lifetime" in p.log_text()


def test_exits_when_its_parent_dies(tmp_path):
    port = testbed.free_port()
    pidfile = tmp_path / "pid"
    parent = subprocess.Popen(["/bin/sh", "-c", '"$0" --listen 127.0.0.1:%d & echo $! > %s; wait'
                               % (port, pidfile), VAULT], start_new_session=True)
    try:
        deadline = time.monotonic() + 10
        while not testbed.wait_tcp("127.0.0.1", port) and time.monotonic() < deadline:
            time.sleep(0.05)
        child = int(pidfile.read_text())
        parent.kill()
        parent.wait()
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and os.path.exists("/proc/%d" % child):
            if open("/proc/%d/stat" % child).read().split()[2] == "Z":
                break
            time.sleep(0.05)
        alive = os.path.exists("/proc/%d" % child) and open("/proc/%d/stat" % child).read().split()[2] != "Z"
        assert not alive
    finally:
        try:
            os.killpg(parent.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass



def test_fields_of_the_wrong_type_are_400_and_the_server_keeps_serving(fake_vault):
    for path, body in (("secret/data/x", {"options": "x", "data": {"a": 1}}),
                       ("secret/data/x", {"options": {"cas": "abc"}, "data": {"a": 1}}),
                       ("secret/delete/x", {"versions": "one,two"}),
                       ("secret/metadata/x", {"max_versions": "many"}),
                       ("auth/token/create", {"num_uses": "many"})):
        status, body = fake_vault.request("POST", path, body)
        assert status == 400 and body["errors"], path
    assert fake_vault.request("GET", "sys/health")[0] == 200


def test_a_body_over_32_mb_is_refused_with_413(fake_vault):
    with socket.create_connection((fake_vault.host, fake_vault.port), timeout=5) as s:
        s.sendall(b"PUT /v1/secret/data/x HTTP/1.1\r\nHost: x\r\nContent-Length: 40000000\r\n\r\n")
        assert s.recv(100).startswith(b"HTTP/1.1 413")


def test_policy_in_short_dict_form_and_json_form(fake_vault):
    fake_vault.add_policy("a", {"secret/data/a/*": ["read"]})
    fake_vault.add_policy("b", {"path": {"secret/data/b/*": {"capabilities": ["read"]}}})
    fake_vault.kv_put("a/x", {"v": 1})
    fake_vault.kv_put("b/x", {"v": 1})
    tok = fake_vault.create_token(["a"])
    assert fake_vault.request("GET", "secret/data/a/x", token=tok)[0] == 200
    assert fake_vault.request("GET", "secret/data/b/x", token=tok)[0] == 403
    assert fake_vault.request("GET", "secret/data/b/x", token=fake_vault.create_token(["b"]))[0] == 200


def test_pki_ca_can_be_loaded_from_files(procs, tmp_path):
    from testbed.fixtures_vault import start_fake_vault
    ca = certs.make_ca("Loaded CA")
    crt, key = ca.write(tmp_path, "loaded-ca")
    v = start_fake_vault(procs, tmp_path, extra_argv=["--pki-ca-cert", crt, "--pki-ca-key", key])
    assert v.pki_ca_pem().strip() == ca.cert_pem.strip()


# --- the certificate helper these fixtures (and others) use -------------------

def test_cert_helper_makes_expired_future_mismatched_and_chained_certs(tmp_path):
    ca = certs.make_ca()
    now = datetime.datetime.now(datetime.timezone.utc)
    old = certs.expired_cert(ca, ["old.example.com"]).cert
    assert old.not_valid_after.replace(tzinfo=datetime.timezone.utc) < now
    future = certs.not_yet_valid_cert(ca, ["new.example.com"]).cert
    assert future.not_valid_before.replace(tzinfo=datetime.timezone.utc) > now
    crt_pem, key_pem = certs.mismatched_pair(ca, ["x.example.com"])
    key = serialization.load_pem_private_key(key_pem.encode(), None)
    assert not certs.key_matches(certs.load_cert(crt_pem), key)
    rsa_leaf = certs.make_cert(ca, ["r.example.com"], key_type="rsa")
    assert "BEGIN PRIVATE KEY" in rsa_leaf.key_pem and certs.key_matches(rsa_leaf.cert, rsa_leaf.key)
    inter = certs.make_intermediate(ca)
    leaf = certs.make_cert(inter, ["*.w.example.com"])
    crt, _key = leaf.write(tmp_path, "leaf", chain=True)
    assert open(crt).read().count("BEGIN CERTIFICATE") == 2 and leaf.root is ca
    assert oct(os.stat(crt).st_mode & 0o777) == "0o600"
    ca_path = ca.write_cert(tmp_path / "ca.crt")
    p = subprocess.run(["openssl", "verify", "-CAfile", ca_path, "-untrusted",
                        inter.write_cert(tmp_path / "inter.crt"), leaf.write_cert(tmp_path / "l.crt")],
                       capture_output=True, text=True, timeout=10)
    assert p.returncode == 0, p.stdout + p.stderr
    p = subprocess.run(["openssl", "verify", "-CAfile", ca_path, leaf.write_cert(tmp_path / "l2.crt")],
                       capture_output=True, text=True, timeout=10)
    assert p.returncode != 0            # without the intermediate the chain is broken


def test_config_file_seeds_mounts_policies_tokens_roles_and_secrets(procs, tmp_path):
    cfg = {
        "mounts": {"kv1/": {"type": "kv", "version": 1}, "pki/": {"type": "pki"}},
        "policies": {"ssl": 'path "kv1/ssl/*" { capabilities = ["read"] }'},
        "kubernetes": {"k8s-east": {"roles": {"portico": {
            "bound_service_account_names": ["portico"], "bound_service_account_namespaces": ["ingress"],
            "token_policies": ["ssl"]}}}},
        "pki_roles": {"pki": {"web": {"allowed_domains": ["example.com"], "allow_subdomains": True}}},
        "kv": {"kv1/ssl/a.example.com": {"crt": "C", "key": "K"}, "secret/ssl/b": {"crt": "C2"}},
        "tokens": [{"id": "reader-token", "policies": ["ssl"], "ttl": "1h"}],
    }
    path = tmp_path / "vault.json"
    path.write_text(json.dumps(cfg))
    port = testbed.free_port()
    procs.start("vault-config", [VAULT, "--listen", "127.0.0.1:%d" % port, "--root-token", "r",
                                 "--config", str(path)],
                ready=lambda: testbed.wait_tcp("127.0.0.1", port))

    def call(method, p, body=None, token="r"):
        import http.client
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        c.request(method, "/v1/" + p, body=json.dumps(body) if body else None,
                  headers={"X-Vault-Token": token} if token else {})
        r = c.getresponse()
        data = r.read()
        c.close()
        return r.status, (json.loads(data) if data.strip() else None)

    status, body = call("GET", "kv1/ssl/a.example.com", token="reader-token")
    assert status == 200 and body["data"] == {"crt": "C", "key": "K"}
    assert call("GET", "secret/data/ssl/b")[1]["data"]["data"] == {"crt": "C2"}
    jwt = "e30." + base64.urlsafe_b64encode(json.dumps({
        "kubernetes.io/serviceaccount/service-account.name": "portico",
        "kubernetes.io/serviceaccount/namespace": "ingress"}).encode()).decode().rstrip("=") + ".c2ln"
    status, body = call("POST", "auth/k8s-east/login", {"role": "portico", "jwt": jwt}, token=None)
    assert status == 200 and body["auth"]["policies"] == ["default", "ssl"]     # claims-only mode
    assert call("POST", "pki/issue/web", {"common_name": "x.example.com"})[0] == 200
    bad = tmp_path / "bad.json"
    bad.write_text('{"mount": {}}')
    p = subprocess.run([VAULT, "--listen", "127.0.0.1:%d" % testbed.free_port(), "--config", str(bad)],
                       capture_output=True, text=True, timeout=10)
    assert p.returncode != 0 and "unknown keys" in p.stderr


def test_policy_priority_follows_the_documented_rules(fake_vault):
    fake_vault.add_policy("p1", '''
        path "secret/data/*"             { capabilities = ["read"] }
        path "secret/data/ssl/locked"    { capabilities = ["deny"] }
        path "secret/data/+/team"        { capabilities = ["deny"] }
        path "secret/data/ssl/+"         { capabilities = ["read"] }
        path "secret/data/app*"          { capabilities = ["deny"] }
    ''')
    fake_vault.add_policy("p2", 'path "secret/data/shared" { capabilities = ["read"] }')
    fake_vault.add_policy("p3", 'path "secret/data/shared" { capabilities = ["deny"] }')
    tok = fake_vault.create_token(["p1", "p2", "p3"])
    for p in ("ssl/open", "ssl/locked", "ssl/team", "x/team", "apps/x", "application", "shared", "other"):
        fake_vault.kv_put(p, {"v": 1})

    def code(p):
        return fake_vault.request("GET", "secret/data/" + p, token=tok)[0]
    assert code("other") == 200           # only the broad glob matches
    assert code("ssl/locked") == 403      # exact path beats every glob
    assert code("ssl/team") == 200        # first wildcard later wins: ssl/+ over +/team
    assert code("x/team") == 403          # same first wildcard: the rule not ending in * wins
    assert code("apps/x") == 403 and code("application") == 403   # later wildcard; * crosses "/"
    assert code("shared") == 403          # same path in two policies: deny wins
