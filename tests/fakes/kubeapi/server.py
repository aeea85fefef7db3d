"""HTTP front end of the fake kube-apiserver: routing of the REST paths,
discovery documents, authentication (bearer tokens, client certificates),
authorisation (an
allow-list of "verb resource" rules), watch streaming, the access log, and
the fault-injection admin API under /__fake/ (a prefix the real server
never serves).  The admin API is described in tests/fakes/README.md and in
the header of tests/fakes/kube-apiserver."""

import http.server
import json
import random
import select
import socket
import socketserver
import sys
import threading
import time
import urllib.parse

from . import errors, resources, x509auth
from .errors import ApiError, FieldError
from .store import (APPLY_PATCH, JSON_PATCH, MERGE_PATCH, STRATEGIC_PATCH,
                    Store)

ADMIN_PREFIX = "/__fake/"
DEFAULT_BOOKMARK_INTERVAL = 60.0
MIN_REQUEST_TIMEOUT = 1800        # --min-request-timeout default
MAX_BODY = 3 * 1024 * 1024        # the real server limits request bodies
ACCESS_LOG_MAX = 100000
TLS_HANDSHAKE_TIMEOUT = 10        # seconds a client gets to finish TLS
COMPACT = (",", ":")              # Go's encoding/json output has no spaces
CLIENT_CHECK_SECONDS = 0.5        # how often a quiet watch looks for EOF
SERVER_VERSION = {"major": "1", "minor": "32", "gitVersion": "v1.32.0-fake",
                  "gitCommit": "0000000000000000000000000000000000000000",
                  "gitTreeState": "clean", "buildDate": "2026-01-01T00:00:00Z",
                  "goVersion": "go1.23.0", "compiler": "gc",
                  "platform": "linux/amd64"}
REASONS = {400: "BadRequest", 401: "Unauthorized", 403: "Forbidden",
           404: "NotFound", 405: "MethodNotAllowed", 409: "Conflict",
           410: "Expired", 415: "UnsupportedMediaType", 422: "Invalid",
           429: "TooManyRequests", 500: "InternalError",
           503: "ServiceUnavailable", 504: "Timeout"}


class _ListOptionsKind:
    """Stands in for a Resource in errors.invalid(): ListOptions.meta.k8s.io"""
    group = "meta.k8s.io"
    kind = "ListOptions"
    qualified_kind = "ListOptions.meta.k8s.io"


LIST_OPTIONS = _ListOptionsKind()


class AllowList:
    """Rules "verb resource[/subresource]"; "*" matches any verb/resource.
    None as the rule list means everything is allowed."""

    def __init__(self, rules=None):
        self.rules = None if rules is None else [self._parse(r) for r in rules]

    @staticmethod
    def _parse(rule):
        if isinstance(rule, dict):
            return rule.get("verb", "*"), rule.get("resource", "*")
        parts = str(rule).split()
        if len(parts) == 1 and parts[0] == "*":
            return "*", "*"
        if len(parts) != 2:
            raise ValueError(f"bad allow rule {rule!r}: want 'verb resource'")
        return parts[0], parts[1]

    @classmethod
    def from_text(cls, text):
        text = text.strip()
        if text.startswith("[") or text.startswith("{"):
            data = json.loads(text)
            if isinstance(data, dict):
                data = data.get("rules", [])
            return cls(data)
        lines = [ln.split("#", 1)[0].strip() for ln in text.splitlines()]
        return cls([ln for ln in lines if ln])

    def allows(self, verb, resource, group):
        if self.rules is None:
            return True
        for rv, rr in self.rules:
            if rv not in ("*", verb):
                continue
            base = resource.split("/")[0]
            sub = resource[len(base):]
            qualified = f"{base}.{group}{sub}" if group else resource
            if rr in ("*", resource, qualified):
                return True
        return False

    def describe(self):
        if self.rules is None:
            return None
        return [f"{v} {r}" for v, r in self.rules]


class Faults:
    """Injected failures and delays (guarded by the server lock)."""

    def __init__(self):
        self.fail = []       # dicts: count, code, prefix, retry_after, method
        self.delay = 0.0
        self.delay_prefix = None

    def take_failure(self, method, path):
        for rule in self.fail:
            if rule["count"] <= 0:
                continue
            if rule["prefix"] and not path.startswith(rule["prefix"]):
                continue
            if rule["method"] and rule["method"].upper() != method:
                continue
            rule["count"] -= 1
            return rule
        return None

    def delay_for(self, path):
        if self.delay > 0 and (not self.delay_prefix or
                               path.startswith(self.delay_prefix)):
            return self.delay
        return 0.0


class Config:
    def __init__(self, token=None, allow=None, user="system:serviceaccount:"
                 "default:default", bookmark_interval=DEFAULT_BOOKMARK_INTERVAL,
                 access_log_path=None, quiet=False, client_cas=None):
        # Accepted bearer tokens (None: none). With neither tokens nor
        # client CAs every request is authenticated (as config.user).
        self.tokens = None if token is None else [token]
        # x509auth.ClientCAs of --client-ca-file, or None.
        self.client_cas = client_cas
        self.allow = allow or AllowList(None)
        self.user = user
        self.bookmark_interval = bookmark_interval
        self.access_log_path = access_log_path
        self.quiet = quiet


class ApiServer(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    # Like a real server's backlog: socketserver's default of 5 drops SYNs
    # (1 s client retries) as soon as a few clients connect at once.
    request_queue_size = 512

    def __init__(self, addr, config, store=None, ssl_context=None):
        family = socket.AF_INET6 if ":" in addr[0] else socket.AF_INET
        self.address_family = family
        super().__init__(addr, Handler)
        self.config = config
        self.store = store or Store()
        self.ssl_context = ssl_context
        self.lock = threading.Lock()
        self.faults = Faults()
        self.access = []
        self.access_file = open(config.access_log_path, "a") \
            if config.access_log_path else None
        self.close_mode = "clean"
        self.open_watches = 0

    def handle_error(self, request, client_address):
        """One line instead of socketserver's traceback (e.g. a client that
        rejects our certificate fails the TLS handshake)."""
        err = sys.exc_info()[1]
        sys.stderr.write(f"fake-kube-apiserver: connection from "
                         f"{client_address[0]}: {err!r}\n")

    def log_access(self, entry):
        with self.lock:
            self.access.append(entry)
            if len(self.access) > ACCESS_LOG_MAX:
                del self.access[0]
            if self.access_file:
                self.access_file.write(json.dumps(entry) + "\n")
                self.access_file.flush()


def _scheme_group_version(parts):
    """Split /api/v1/... or /apis/g/v/...: (group, version, rest) or None."""
    if len(parts) >= 2 and parts[0] == "api":
        return "", parts[1], parts[2:]
    if len(parts) >= 3 and parts[0] == "apis":
        return parts[1], parts[2], parts[3:]
    return None


class Request:
    """A parsed resource request."""

    def __init__(self, res, namespace, name, subresource, verb):
        self.res, self.namespace, self.name = res, namespace, name
        self.subresource, self.verb = subresource, verb

    @property
    def resource_string(self):
        r = self.res.plural if self.res else ""
        return f"{r}/{self.subresource}" if self.subresource else r


class UnservedResource:
    """The type named by a resource path this server does not serve (an
    unknown plural, or a CRD that is not installed)."""
    crd = False
    unserved = True

    def __init__(self, group, version, plural):
        self.group, self.version, self.plural = group, version, plural


# net/http's NotFound, which the real server's delegation chain ends in
# (k8s.io/apiserver pkg/util/notfoundhandler: http.NotFound): not a Status.
NOT_FOUND_BODY = b"404 page not found\n"
NOT_FOUND_TYPE = "text/plain; charset=utf-8"


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fake-kube-apiserver"
    sys_version = ""

    # --- plumbing ----------------------------------------------------------

    def setup(self):
        # Headers, bodies and watch chunks go out at once: without this,
        # Nagle + the client's delayed ACK add ~40 ms to every response.
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self.server.ssl_context is not None:
            self.request.settimeout(TLS_HANDSHAKE_TIMEOUT)
            self.request = self.server.ssl_context.wrap_socket(
                self.request, server_side=True)
            self.request.settimeout(None)
            self._peer_der = self.request.getpeercert(binary_form=True)
        else:
            self._peer_der = None
        super().setup()

    def handle(self):
        try:
            super().handle()
        except (ConnectionError, OSError):
            pass

    def log_message(self, fmt, *args):
        if not self.server.config.quiet:
            now = time.time()
            stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now))
            sys.stderr.write("%s.%03dZ fake-kube-apiserver: %s\n" %
                             (stamp, int(now * 1000) % 1000, fmt % args))

    def _read_body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            data = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    self.rfile.readline()
                    break
                data += self.rfile.read(size)
                self.rfile.readline()
                if len(data) > MAX_BODY:
                    raise errors.ApiError(413, "RequestEntityTooLarge",
                                          "Request entity too large")
            return data
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            raise errors.ApiError(413, "RequestEntityTooLarge",
                                  "Request entity too large")
        return self.rfile.read(length) if length else b""

    def _send(self, code, body, ctype="application/json", headers=None):
        data = body if isinstance(body, bytes) else \
            (json.dumps(body, separators=COMPACT) + "\n").encode()
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-cache, private")
        self.send_header("Audit-Id", self._audit_id)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        for w in self._warnings if 200 <= code < 300 else []:
            self.send_header("Warning", w)
        self._code = code
        self._log()        # before the body, so a client never outruns it
        # Headers and body in one write (one TLS record, one segment).
        self._headers_buffer.append(b"\r\n")
        if self.command != "HEAD":
            self._headers_buffer.append(data)
        self.flush_headers()

    def _send_error(self, err):
        self._send(err.code, err.status(), headers=err.headers)

    def _parse_json(self, raw, ctype):
        base = (ctype or "").split(";")[0].strip().lower()
        if not raw:
            return None
        try:
            if base in ("application/yaml", "application/apply-patch+yaml"):
                import yaml
                return yaml.safe_load(raw)
            return json.loads(raw)
        except Exception as e:     # json or yaml syntax error
            raise errors.bad_request(f"error decoding request body: {e}")

    # --- dispatch -----------------------------------------------------------

    def do_GET(self):
        self._dispatch()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = do_GET

    def _dispatch(self):
        self._audit_id = f"{random.getrandbits(64):016x}"
        self._code = 0
        self._req = None
        self._logged = False
        self._warnings = []
        self._user = self.server.config.user
        self._groups = []
        self._auth_error = None
        url = urllib.parse.urlsplit(self.path)
        self._path = url.path
        self._query = {k: v[-1] for k, v in
                       urllib.parse.parse_qs(url.query,
                                             keep_blank_values=True).items()}
        # The body is always read first, so an early error answer never
        # leaves it on a keep-alive connection as the "next request".
        try:
            self._body = self._read_body()
        except (ValueError, ApiError) as e:
            self.close_connection = True
            err = e if isinstance(e, ApiError) else \
                errors.bad_request(f"bad request body framing: {e}")
            self._send_error(err)
            return
        if self._path.startswith(ADMIN_PREFIX):
            self._logged = True          # admin calls are not logged
            try:
                self._admin()
            except ApiError as e:
                self._send_error(e)
            except (ValueError, TypeError, KeyError, AttributeError) as e:
                self._send_error(errors.bad_request(f"admin: bad request "
                                                    f"body: {e!r}"))
            return
        try:
            # Classify first (for the access log), but answer a bad
            # method only after authentication, as the real server does.
            bad_method = None
            try:
                self._req = self._classify()
            except ApiError as e:
                bad_method = e
            self._faults_and_authentication()
            if bad_method is not None:
                raise bad_method
            self._authorize(self._req)
            self._serve(self._req)
        except ApiError as e:
            if not self._code:
                self._send_error(e)
        except (ConnectionError, OSError):
            self.close_connection = True
        except Exception as e:      # a bug in the fake: answer 500, keep going
            sys.stderr.write(f"fake-kube-apiserver: internal error: {e!r}\n")
            import traceback
            traceback.print_exc()
            if not self._code:
                self._send_error(ApiError(500, "InternalError",
                                          f"Internal error occurred: {e}"))
        finally:
            self._log()

    def _log(self):
        if self._logged:
            return
        self._logged = True
        req = self._req
        entry = {"time": time.time(), "method": self.command,
                 "path": self._path, "query": self._query,
                 "code": self._code, "user_agent":
                 self.headers.get("User-Agent", ""),
                 "content_type": self.headers.get("Content-Type", ""),
                 "user": self._user, "groups": self._groups}
        if self._auth_error:
            entry["auth_error"] = self._auth_error
        if req is not None and req.res is not None:
            entry.update(verb=req.verb, resource=req.resource_string,
                         group=req.res.group, namespace=req.namespace or "",
                         name=req.name or "")
        else:
            entry.update(verb=self.command.lower(), resource="", group="",
                         namespace="", name="")
        self.server.log_access(entry)

    def _classify(self):
        """Work out (resource, namespace, name, subresource, verb) from the
        path alone, as the real server's RequestInfoFactory does before
        authorisation: a path naming a type this server does not serve (or
        a CRD not installed) is authorised like any other and answered 404
        by the end of the handler chain (_serve)."""
        parts = [p for p in self._path.split("/") if p]
        sgv = _scheme_group_version(parts)
        method = self.command
        if sgv is None or not sgv[2]:
            return Request(None, None, None, None, method.lower())
        group, version, rest = sgv
        ns = None
        if rest[0] == "namespaces" and len(rest) >= 3 and \
                rest[2] not in ("status", "finalize"):
            ns, rest = rest[1], rest[2:]
        res = resources.lookup(group, version, rest[0])
        unserved = res is None or (res.crd and
                                   not self.server.store.served(res))
        if not unserved and (len(rest) > 3 or (ns is None and res.namespaced
                                               and len(rest) > 1) or
                             (ns is not None and not res.namespaced)):
            unserved = True
        name = rest[1] if len(rest) > 1 else None
        sub = rest[2] if len(rest) > 2 else None
        if not unserved and sub is not None and \
                (sub != "status" or not res.status):
            unserved = True
        if unserved:
            res = UnservedResource(group, version, rest[0])
        watch = self._query.get("watch", "") in ("1", "true", "True")
        if method in ("GET", "HEAD"):
            verb = "watch" if watch else ("get" if name else "list")
        elif method == "POST":
            verb = "create"
        elif method == "PUT":
            verb = "update"
        elif method == "PATCH":
            verb = "patch"
        elif method == "DELETE":
            verb = "delete" if name else "deletecollection"
        else:
            raise errors.method_not_allowed()
        if not unserved and method == "POST" and name:
            raise errors.method_not_allowed()
        if not unserved and method in ("PUT", "PATCH") and not name:
            raise errors.method_not_allowed()
        return Request(res, ns, name, sub, verb)

    def _faults_and_authentication(self):
        """Injected delay/failures first, then the bearer token (the real
        server authenticates before it knows whether a path exists)."""
        srv = self.server
        with srv.lock:
            delay = srv.faults.delay_for(self._path)
            rule = srv.faults.take_failure(self.command, self._path)
        if delay:
            time.sleep(delay)
        if rule is not None:
            code = rule["code"]
            headers, details = {}, None
            if code == 429:
                msg = "Too many requests, please try again later."
                headers["Retry-After"] = str(rule["retry_after"])
                details = {"retryAfterSeconds": rule["retry_after"]}
            elif code == 500:
                msg = "Internal error occurred: injected fault"
                details = {"causes": [{"message": "injected fault"}]}
            elif code == 503:
                msg = "The server is currently unable to handle the request"
                headers["Retry-After"] = str(rule["retry_after"])
            else:
                msg = f"injected fault ({code})"
            raise ApiError(code, REASONS.get(code, "Unknown"), msg, details,
                           headers)
        if self._path in ("/healthz", "/livez", "/readyz"):
            return
        self._authenticate()

    def _authenticate(self):
        """The real server's union of authenticators: the first that
        succeeds names the user; if none does, 401 (no anonymous user)."""
        cfg = self.server.config
        if cfg.tokens is None and cfg.client_cas is None:
            return                                  # authentication off
        if cfg.client_cas is not None and self._peer_der:
            try:
                self._user, self._groups = cfg.client_cas.verify(
                    self._peer_der)
                self._groups = self._groups + ["system:authenticated"]
                return
            except x509auth.CertificateError as e:
                self._auth_error = str(e)
        auth = self.headers.get("Authorization", "")
        if cfg.tokens is not None and auth.startswith("Bearer ") and \
                auth[7:] in cfg.tokens:
            self._user = cfg.user
            self._groups = ["system:serviceaccounts", "system:authenticated"]
            return
        self._user, self._groups = "", []
        if self._auth_error and not cfg.quiet:
            sys.stderr.write(f"fake-kube-apiserver: Unable to authenticate "
                             f"the request: {self._auth_error}\n")
        raise errors.unauthorized()

    def _authorize(self, req):
        """The allow-list (RBAC stand-in); non-resource paths are allowed."""
        srv = self.server
        if req.res is None:
            return
        resource = req.resource_string
        if not srv.config.allow.allows(req.verb, resource, req.res.group):
            where = f'in the namespace "{req.namespace}"' if req.namespace \
                else "at the cluster scope"
            why = (f'User "{self._user}" cannot {req.verb} resource '
                   f'"{resource}" in API group "{req.res.group}" {where}')
            raise errors.forbidden(req.res.plural, req.res.group, req.name,
                                   why)

    # --- non-resource endpoints ---------------------------------------------

    def _not_found(self):
        self._send(404, NOT_FOUND_BODY, NOT_FOUND_TYPE,
                   {"X-Content-Type-Options": "nosniff"})

    def _serve(self, req):
        if req.res is None:
            return self._serve_nonresource()
        if getattr(req.res, "unserved", False):
            return self._not_found()
        st = self.server.store
        q = self._query
        dry_run = q.get("dryRun") == "All"
        res, ns, name = req.res, req.namespace or "", req.name
        if req.verb in ("watch", "list"):
            self._check_send_initial_events(req)
        if req.verb == "watch":
            return self._watch(req)
        if req.verb == "list":
            return self._send(200, st.list(
                res, ns, q.get("labelSelector", ""), q.get("fieldSelector", ""),
                self._int_param("limit"), q.get("continue", ""),
                q.get("resourceVersion"), q.get("resourceVersionMatch", "")))
        if req.verb == "get":
            return self._send(200, st.get(res, ns, name))
        ctype = self.headers.get("Content-Type", "application/json")
        body = self._parse_json(self._body, ctype)
        unknown = self._unknown_field_policy()
        if req.verb == "create":
            if body is None:
                raise errors.bad_request("the body of the request is empty")
            return self._send(201, st.create(res, ns, body, dry_run, unknown))
        if req.verb == "update":
            obj, created = st.update(res, ns, name, body, req.subresource,
                                     dry_run, unknown)
            return self._send(201 if created else 200, obj)
        if req.verb == "patch":
            base = ctype.split(";")[0].strip().lower()
            if base == APPLY_PATCH:
                return self._apply(req, body, dry_run)
            if base not in (MERGE_PATCH, JSON_PATCH, STRATEGIC_PATCH):
                accepted = [JSON_PATCH, MERGE_PATCH, APPLY_PATCH]
                if not res.crd:
                    accepted.insert(2, STRATEGIC_PATCH)
                raise errors.unsupported_media_type(base, accepted)
            if body is None:
                raise errors.bad_request("the body of the request is empty")
            return self._send(200, st.patch(res, ns, name, base, body,
                                            req.subresource, dry_run,
                                            unknown))
        if req.verb == "delete":
            obj, now = st.delete(res, ns, name, body, dry_run)
            if not now or res.return_deleted:
                return self._send(200, obj)
            details = {"name": name}
            if res.group:
                details["group"] = res.group
            details.update(kind=res.plural, uid=obj["metadata"]["uid"])
            return self._send(200, {"kind": "Status", "apiVersion": "v1",
                                    "metadata": {}, "status": "Success",
                                    "details": details})
        if req.verb == "deletecollection":
            listed = st.list(res, ns, q.get("labelSelector", ""),
                             q.get("fieldSelector", ""))
            for item in listed["items"]:
                try:
                    st.delete(res, item["metadata"].get("namespace", ""),
                              item["metadata"]["name"], None, dry_run)
                except ApiError:
                    pass
            return self._send(200, listed)
        raise errors.method_not_allowed()

    def _unknown_field_policy(self):
        """?fieldValidation=Strict|Warn|Ignore (default Warn) as a callback
        for the store: Strict fails the request, Warn adds a Warning header
        per dropped field, Ignore does nothing."""
        mode = self._query.get("fieldValidation") or "Warn"
        if mode not in ("Ignore", "Warn", "Strict"):
            raise errors.bad_request(
                f'fieldValidation: Unsupported value: "{mode}": supported '
                'values: "Ignore", "Strict", "Warn"')

        def on_unknown(res, paths):
            if mode == "Strict":
                fields = ", ".join(f'unknown field "{p}"' for p in paths)
                raise errors.bad_request(
                    f'{res.kind} in version "{res.version}" cannot be handled'
                    f' as a {res.kind}: strict decoding error: {fields}')
            if mode == "Warn":
                self._warnings.extend(
                    f'299 - "unknown field \\"{p}\\""' for p in paths)
        return on_unknown

    def _apply(self, req, body, dry_run):
        """Server-side apply, approximated: create if absent, else a merge
        patch of the applied configuration (no field ownership tracking)."""
        if not self._query.get("fieldManager"):
            raise errors.bad_request("PATCH, application/apply-patch+yaml: "
                                     "fieldManager is required for apply "
                                     "requests")
        if not isinstance(body, dict):
            raise errors.bad_request("apply patch must be an object")
        st = self.server.store
        try:
            st.get(req.res, req.namespace or "", req.name)
        except ApiError as e:
            if e.code != 404 or req.subresource:
                raise
            return self._send(201, st.create(req.res, req.namespace or "",
                                             body, dry_run,
                                             self._unknown_field_policy()))
        return self._send(200, st.patch(req.res, req.namespace or "",
                                        req.name, MERGE_PATCH, body,
                                        req.subresource, dry_run,
                                        self._unknown_field_policy()))

    def _int_param(self, name):
        v = self._query.get(name)
        if v in (None, ""):
            return 0
        try:
            n = int(v)
        except ValueError:
            raise errors.bad_request(f"invalid {name}: {v!r}")
        return max(n, 0)

    def _serve_nonresource(self):
        if self.command not in ("GET", "HEAD"):
            raise errors.method_not_allowed()
        p = self._path.rstrip("/") or "/"
        if p in ("/healthz", "/livez", "/readyz"):
            return self._send(200, b"ok", "text/plain; charset=utf-8")
        if p == "/version":
            return self._send(200, SERVER_VERSION)
        if p == "/api":
            host = self.server.server_address
            return self._send(200, {
                "kind": "APIVersions", "versions": ["v1"],
                "serverAddressByClientCIDRs": [{
                    "clientCIDR": "0.0.0.0/0",
                    "serverAddress": f"{host[0]}:{host[1]}"}]})
        removed = self.server.store.removed_crds
        if p == "/apis":
            return self._send(200, resources.api_group_list(removed))
        parts = [x for x in p.split("/") if x]
        if len(parts) == 2 and parts[0] == "apis":
            g = resources.api_group(parts[1], removed)
            if g:
                return self._send(200, g)
        sgv = _scheme_group_version(parts)
        if sgv and not sgv[2]:
            doc = resources.api_resource_list(sgv[0], sgv[1], removed)
            if doc:
                return self._send(200, doc)
        if p == "/openapi/v3":
            return self._send(200, resources.openapi_v3_root(removed))
        if p.startswith("/openapi/v3/"):
            sgv = _scheme_group_version(parts[2:])
            doc = sgv and not sgv[2] and \
                resources.openapi_v3_group_version(sgv[0], sgv[1], removed)
            if doc:
                return self._send(200, doc)
        if p == "/":
            return self._send(200, {"paths": sorted(
                ["/api", "/api/v1", "/apis", "/healthz", "/livez", "/readyz",
                 "/version"] + [f"/apis/{g}/{v}" for g, v in
                                resources.group_versions(removed)])})
        return self._not_found()

    # --- watch ------------------------------------------------------------------

    def _chunk(self, data):
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def _check_send_initial_events(self, req):
        """ValidateListOptions for the WatchList mode (422 ListOptions)."""
        q = self._query
        if "sendInitialEvents" not in q:
            return
        errs = []
        if req.verb != "watch":
            errs.append(FieldError("Forbidden", "sendInitialEvents",
                                   detail="sendInitialEvents is forbidden "
                                   "for list"))
        else:
            if q.get("resourceVersionMatch") != "NotOlderThan":
                errs.append(FieldError(
                    "Forbidden", "resourceVersionMatch",
                    detail="sendInitialEvents requires setting "
                    "resourceVersionMatch to NotOlderThan"))
            if q.get("allowWatchBookmarks") not in ("true", "1"):
                errs.append(FieldError(
                    "Forbidden", "allowWatchBookmarks",
                    detail="allowWatchBookmarks must be set to true when "
                    "sendInitialEvents is set"))
        if errs:
            raise errors.invalid(LIST_OPTIONS, "", errs)

    def _watch(self, req):
        q = self._query
        srv = self.server
        fsel = q.get("fieldSelector", "")
        if req.name:
            extra = f"metadata.name={req.name}"
            fsel = f"{fsel},{extra}" if fsel else extra
        w = srv.store.open_watch(
            req.res, req.namespace or "", q.get("labelSelector", ""), fsel,
            q.get("resourceVersion"),
            q.get("sendInitialEvents") in ("true", "1"))
        timeout = self._int_param("timeoutSeconds")
        if not timeout:
            timeout = MIN_REQUEST_TIMEOUT * (1 + random.random())
        deadline = time.monotonic() + timeout
        bookmarks = q.get("allowWatchBookmarks") in ("true", "1")
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Cache-Control", "no-cache, private")
        self.send_header("Audit-Id", self._audit_id)
        self._code = 200
        self._log()
        self.end_headers()
        if w.error is not None:
            self._event("ERROR", w.error.status())
            self._end_stream()
            return
        with srv.lock:
            srv.open_watches += 1
        try:
            self._watch_loop(w, deadline, bookmarks)
        finally:
            with srv.lock:
                srv.open_watches -= 1

    def _client_gone(self):
        """A watch client never sends anything after its request, so a
        readable socket means EOF or a TLS close_notify: the client left."""
        try:
            readable, _, _ = select.select([self.request], [], [], 0)
        except (OSError, ValueError):
            return True
        return bool(readable)

    def _event(self, typ, obj):
        self._chunk(json.dumps({"type": typ, "object": obj},
                               separators=COMPACT).encode() + b"\n")

    def _end_stream(self):
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def _watch_loop(self, w, deadline, bookmarks):
        srv = self.server
        for typ, obj in w.initial:
            self._event(typ, obj)
        if w.initial_end and bookmarks:
            typ, obj = w.bookmark()
            obj["metadata"]["annotations"] = {
                "k8s.io/initial-events-end": "true"}
            self._event(typ, obj)
        last_bookmark = time.monotonic()

        def bookmark_due():
            if not bookmarks:
                return None
            return last_bookmark + srv.config.bookmark_interval
        while True:
            events, state = w.next_batch(deadline, bookmark_due,
                                         self._client_gone,
                                         CLIENT_CHECK_SECONDS)
            if state == "gone":
                self.close_connection = True
                return
            for typ, obj in events:
                self._event(typ, obj)
            if state == "bookmark":
                if bookmarks:
                    self._event(*w.bookmark())
                last_bookmark = time.monotonic()
            elif state == "timeout":
                self._end_stream()
                return
            elif state == "expired":
                self._event("ERROR", errors.expired(
                    f"too old resource version: {w.cursor} "
                    f"({srv.store.floor})").status())
                self._end_stream()
                return
            elif state == "closed":
                if srv.close_mode == "reset":
                    self.close_connection = True
                    try:
                        self.request.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass
                else:
                    self._end_stream()
                return

    # --- admin API ----------------------------------------------------------------

    def _admin(self):
        srv = self.server
        st = srv.store
        op = self._path[len(ADMIN_PREFIX):].strip("/")
        raw = self._body
        body = json.loads(raw) if raw.strip() else {}
        m = self.command
        if op == "state" and m == "GET":
            with srv.lock:
                watches = srv.open_watches
                fail = [dict(r) for r in srv.faults.fail if r["count"] > 0]
            return self._send(200, {
                "resourceVersion": st.current_rv(), "historyFloor": st.floor,
                "openWatches": watches, "objects": st.counts(),
                "failRules": fail, "allow": srv.config.allow.describe(),
                "bookmarkInterval": srv.config.bookmark_interval})
        if op == "close-watches" and m == "POST":
            srv.close_mode = body.get("mode", "clean")
            if srv.close_mode not in ("clean", "reset"):
                raise ValueError("mode must be clean or reset")
            with srv.lock:
                n = srv.open_watches
            st.close_watches()
            return self._send(200, {"closed": n})
        if op == "fail" and m == "POST":
            code = int(body.get("code", 500))
            rule = {"count": int(body.get("count", 1)), "code": code,
                    "prefix": body.get("pathPrefix"),
                    "method": body.get("method"),
                    "retry_after": int(body.get("retryAfter", 1))}
            with srv.lock:
                srv.faults.fail.append(rule)
            return self._send(200, {"ok": True})
        if op == "delay" and m == "POST":
            with srv.lock:
                srv.faults.delay = float(body.get("seconds", 0))
                srv.faults.delay_prefix = body.get("pathPrefix")
            return self._send(200, {"ok": True})
        if op == "reset-faults" and m == "POST":
            with srv.lock:
                srv.faults = Faults()
            return self._send(200, {"ok": True})
        if op == "restart" and m == "POST":
            srv.close_mode = body.get("mode", "reset")
            st.restart(lose_history=bool(body.get("loseHistory", True)),
                       keep_objects=bool(body.get("keepObjects", True)))
            return self._send(200, {"resourceVersion": st.current_rv()})
        if op == "expire-continue" and m == "POST":
            st.expire_continue_tokens()
            return self._send(200, {"ok": True})
        if op == "bookmark" and m == "POST":
            st.force_bookmarks()
            return self._send(200, {"ok": True})
        if op == "bookmark-interval" and m in ("POST", "PUT"):
            srv.config.bookmark_interval = float(body["seconds"])
            st.wake_watches()      # so the new interval applies at once
            return self._send(200, {"ok": True})
        if op == "access-log":
            if m == "GET":
                with srv.lock:
                    return self._send(200, {"entries": list(srv.access)})
            if m == "DELETE":
                with srv.lock:
                    srv.access = []
                return self._send(200, {"ok": True})
        if op == "tokens" and m in ("PUT", "POST"):
            tokens = body.get("tokens")
            srv.config.tokens = None if tokens is None else \
                [str(t) for t in tokens]
            return self._send(200, {"ok": True})
        if op == "crds" and m == "GET":
            return self._send(200, {"crds": {
                name: st.served(r) for name, r in resources.CRDS.items()}})
        if op.startswith("crds/") and m in ("DELETE", "POST"):
            r = resources.CRDS.get(op[len("crds/"):])
            if r is None:
                raise ApiError(404, "NotFound", f"no CRD {op[5:]!r}; known: "
                               f"{sorted(resources.CRDS)}", {})
            if m == "DELETE":
                st.remove_crd(r)
            else:
                st.install_crd(r)
            return self._send(200, {"installed": m == "POST"})
        if op == "allow" and m in ("PUT", "POST"):
            rules = body.get("rules") if isinstance(body, dict) else body
            srv.config.allow = AllowList(rules)
            return self._send(200, {"allow": srv.config.allow.describe()})
        raise ApiError(404, "NotFound", f"no admin operation {m} {op}", {})
