"""metav1.Status error objects, built with the same reasons, codes, messages
and details as apimachinery's pkg/api/errors constructors."""

OPTIMISTIC_LOCK_MSG = ("the object has been modified; please apply your "
                       "changes to the latest version and try again")
LIST_EXPIRED_MSG = "The resourceVersion for the provided list is too old."
CONTINUE_EXPIRED_MSG = (
    "The provided continue parameter is too old to display a consistent list "
    "result. You can start a new list without the continue parameter.")
INCONSISTENT_CONTINUE_MSG = (
    "The provided continue parameter is too old to display a consistent list "
    "result. You can start a new list without the continue parameter, or use "
    "the continue token in this response to retrieve the remainder of the "
    "results. Continuing with the provided token results in an inconsistent "
    "list - objects that were created, modified, or deleted between the time "
    "the first chunk was returned and now may show up in the list.")


class ApiError(Exception):
    """An error answered with a Status object and an HTTP code."""

    def __init__(self, code, reason, message, details=None, headers=None,
                 list_continue=None):
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details
        self.headers = headers or {}
        self.list_continue = list_continue

    def status(self):
        return status_object(self.code, self.reason, self.message,
                             self.details, self.list_continue)


def status_object(code, reason, message, details=None, list_continue=None):
    meta = {}
    if list_continue:
        meta["continue"] = list_continue
    st = {"kind": "Status", "apiVersion": "v1", "metadata": meta,
          "status": "Failure", "message": message}
    if reason:
        st["reason"] = reason
    if details is not None:
        st["details"] = details
    st["code"] = code
    return st


def _details(res, name):
    d = {}
    if name:
        d["name"] = name
    if res.group:
        d["group"] = res.group
    d["kind"] = res.plural
    return d


def not_found(res, name):
    return ApiError(404, "NotFound", f'{res.qualified} "{name}" not found',
                    _details(res, name))


def already_exists(res, name):
    return ApiError(409, "AlreadyExists",
                    f'{res.qualified} "{name}" already exists',
                    _details(res, name))


def conflict(res, name, why=OPTIMISTIC_LOCK_MSG):
    return ApiError(409, "Conflict",
                    f'Operation cannot be fulfilled on {res.qualified} '
                    f'"{name}": {why}', _details(res, name))


def forbidden(res_plural, group, name, why):
    qualified = f"{res_plural}.{group}" if group else res_plural
    if name:
        msg = f'{qualified} "{name}" is forbidden: {why}'
    else:
        msg = f"{qualified} is forbidden: {why}"
    d = {}
    if name:
        d["name"] = name
    if group:
        d["group"] = group
    d["kind"] = res_plural
    return ApiError(403, "Forbidden", msg, d)


def unauthorized():
    return ApiError(401, "Unauthorized", "Unauthorized")


def bad_request(message):
    return ApiError(400, "BadRequest", message)


def method_not_allowed(message="the server does not allow this method on "
                       "the requested resource"):
    return ApiError(405, "MethodNotAllowed", message, {})


def unsupported_media_type(content_type, accepted):
    return ApiError(415, "UnsupportedMediaType",
                    f"the body of the request was in an unknown format - "
                    f"accepted media types include: {', '.join(accepted)}",
                    {})


def expired(message):
    return ApiError(410, "Expired", message)


def too_large_rv(rv, current):
    return ApiError(504, "Timeout",
                    f"Too large resource version: {rv}, current: {current}",
                    {"causes": [{"reason": "ResourceVersionTooLarge",
                                 "message": "Too large resource version"}],
                     "retryAfterSeconds": 1})


class FieldError:
    """One field.Error: rendered like apimachinery's field.Error.Error()."""

    def __init__(self, kind, field, value=None, detail="", supported=None):
        self.kind = kind          # Required, Invalid, NotSupported, Forbidden...
        self.field = field
        self.value = value
        self.detail = detail
        self.supported = supported

    REASONS = {"Required": ("FieldValueRequired", "Required value"),
               "Invalid": ("FieldValueInvalid", "Invalid value"),
               "NotSupported": ("FieldValueNotSupported", "Unsupported value"),
               "Forbidden": ("FieldValueForbidden", "Forbidden"),
               "Duplicate": ("FieldValueDuplicate", "Duplicate value"),
               "TooLong": ("FieldValueTooLong", "Too long")}

    def body(self):
        """The part after "<field>: "."""
        _, label = self.REASONS[self.kind]
        if self.kind in ("Required", "Forbidden"):
            return f"{label}: {self.detail}" if self.detail else label
        value = _go_quote(self.value)
        if self.kind == "NotSupported":
            quoted = ", ".join(_go_quote(s) for s in self.supported or [])
            return f"{label}: {value}: supported values: {quoted}"
        text = f"{label}: {value}"
        return f"{text}: {self.detail}" if self.detail else text

    def __str__(self):
        return f"{self.field}: {self.body()}"

    def cause(self):
        return {"reason": self.REASONS[self.kind][0], "message": self.body(),
                "field": self.field}


def _go_quote(v):
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, bool):
        return "true" if v else "false"
    if v is None:
        return "null"
    return str(v)


def invalid(res, name, field_errors):
    """NewInvalid: details.kind is the Kind, not the plural (unlike the rest)."""
    if len(field_errors) == 1:
        agg = str(field_errors[0])
    else:
        agg = "[" + ", ".join(str(e) for e in field_errors) + "]"
    d = {"name": name}
    if res.group:
        d["group"] = res.group
    d["kind"] = res.kind
    d["causes"] = [e.cause() for e in field_errors]
    return ApiError(422, "Invalid",
                    f'{res.qualified_kind} "{name}" is invalid: {agg}', d)
