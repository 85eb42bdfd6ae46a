"""API errors as Kubernetes `Status` objects (k8s.io/apimachinery/pkg/api/errors), and field errors.

Every error a resource request can fail with is a `StatusError` carrying the HTTP code, the
`reason` clients switch on, a message worded like kube-apiserver's, and `details` (name,
group, kind, and for `Invalid` one cause per offending field). `to_status()` gives the
`Status` dict that travels on the wire; `from_status()` turns it back into the same class.

    >>> err = NotFoundError.for_resource("pods", "", "web-0")
    >>> err.code, err.reason, str(err)
    (404, 'NotFound', 'pods "web-0" not found')
"""

from __future__ import annotations

import enum
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar


class CauseType(enum.StrEnum):
    """field.ErrorType / metav1.CauseType: what is wrong with one field."""

    NOT_FOUND = "FieldValueNotFound"
    REQUIRED = "FieldValueRequired"
    DUPLICATE = "FieldValueDuplicate"
    INVALID = "FieldValueInvalid"
    NOT_SUPPORTED = "FieldValueNotSupported"
    FORBIDDEN = "FieldValueForbidden"
    TOO_LONG = "FieldValueTooLong"
    TOO_MANY = "FieldValueTooMany"
    INTERNAL = "InternalError"
    TYPE_INVALID = "FieldValueTypeInvalid"
    UNEXPECTED_SERVER_RESPONSE = "UnexpectedServerResponse"
    FIELD_MANAGER_CONFLICT = "FieldManagerConflict"
    RESOURCE_VERSION_TOO_LARGE = "ResourceVersionTooLarge"


_CAUSE_WORDS = {
    CauseType.NOT_FOUND: "Not found",
    CauseType.REQUIRED: "Required value",
    CauseType.DUPLICATE: "Duplicate value",
    CauseType.INVALID: "Invalid value",
    CauseType.NOT_SUPPORTED: "Unsupported value",
    CauseType.FORBIDDEN: "Forbidden",
    CauseType.TOO_LONG: "Too long",
    CauseType.TOO_MANY: "Too many",
    CauseType.INTERNAL: "Internal error",
    CauseType.TYPE_INVALID: "Invalid value",
}

_OMIT = object()  # a FieldError without a bad value to show (Required, Forbidden, ...)


@dataclass(frozen=True, slots=True)
class FieldError:
    """One offending field (field.Error): its path, what is wrong, the bad value, a detail."""

    type: CauseType
    field: str  # a path like `spec.containers[0].name` or `metadata.labels[app]`
    bad_value: Any = _OMIT
    detail: str = ""

    @property
    def message(self) -> str:
        """`spec.x: Invalid value: "bad": detail`, as field.Error.Error() words it (less the path)."""
        words = _CAUSE_WORDS.get(self.type, str(self.type))
        if self.bad_value is not _OMIT and self.type not in (CauseType.REQUIRED, CauseType.FORBIDDEN):
            words = f"{words}: {_show(self.bad_value)}"
        return f"{words}: {self.detail}" if self.detail else words

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"

    def to_cause(self) -> dict[str, str]:
        return {"reason": str(self.type), "message": self.message, "field": self.field}


def _show(value: Any) -> str:
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, int | float):
        return str(value)
    return json.dumps(value, sort_keys=True, default=str)


def required(path: str, detail: str = "") -> FieldError:
    return FieldError(CauseType.REQUIRED, path, detail=detail)


def invalid(path: str, value: Any, detail: str = "") -> FieldError:
    return FieldError(CauseType.INVALID, path, value, detail)


def forbidden(path: str, detail: str = "") -> FieldError:
    return FieldError(CauseType.FORBIDDEN, path, detail=detail)


def not_supported(path: str, value: Any, valid: Iterable[str]) -> FieldError:
    choices = ", ".join(json.dumps(v) for v in valid)
    return FieldError(CauseType.NOT_SUPPORTED, path, value, f"supported values: {choices}" if choices else "")


def duplicate(path: str, value: Any) -> FieldError:
    return FieldError(CauseType.DUPLICATE, path, value)


def too_long(path: str, value: Any, limit: int) -> FieldError:
    return FieldError(CauseType.TOO_LONG, path, value, f"must have at most {limit} bytes")


def type_invalid(path: str, value: Any, detail: str) -> FieldError:
    return FieldError(CauseType.TYPE_INVALID, path, value, detail)


@dataclass(frozen=True, slots=True)
class StatusDetails:
    """metav1.StatusDetails: which object the error is about, and why, field by field."""

    name: str = ""
    group: str = ""
    kind: str = ""  # the resource (or kind) the error is about, as kube-apiserver fills it
    uid: str = ""
    causes: tuple[dict[str, str], ...] = ()
    retry_after_seconds: int = 0

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in (("name", self.name), ("group", self.group), ("kind", self.kind), ("uid", self.uid)):
            if value:
                out[key] = value
        if self.causes:
            out["causes"] = [dict(c) for c in self.causes]
        if self.retry_after_seconds:
            out["retryAfterSeconds"] = self.retry_after_seconds
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> StatusDetails:
        data = data or {}
        return cls(
            name=str(data.get("name", "")),
            group=str(data.get("group", "")),
            kind=str(data.get("kind", "")),
            uid=str(data.get("uid", "")),
            causes=tuple(dict(c) for c in data.get("causes", ()) or ()),
            retry_after_seconds=int(data.get("retryAfterSeconds", 0) or 0),
        )


def qualified(resource: str, group: str) -> str:
    """`deployments.apps`, or `pods` for the core group (schema.GroupResource.String())."""
    return f"{resource}.{group}" if group else resource


class StatusError(Exception):
    """A failed API request, as the `Status` object kube-apiserver answers it with."""

    code: ClassVar[int] = 500
    reason: ClassVar[str] = "InternalError"

    def __init__(self, message: str, details: StatusDetails | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or StatusDetails()

    def to_status(self) -> dict[str, Any]:
        status: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        details = self.details.to_dict()
        if details:
            status["details"] = details
        return status

    @property
    def causes(self) -> tuple[dict[str, str], ...]:
        return self.details.causes


class BadRequestError(StatusError):
    code = 400
    reason = "BadRequest"


class UnauthorizedError(StatusError):
    code = 401
    reason = "Unauthorized"


class ForbiddenError(StatusError):
    code = 403
    reason = "Forbidden"


class NotFoundError(StatusError):
    code = 404
    reason = "NotFound"

    @classmethod
    def for_resource(cls, resource: str, group: str, name: str) -> NotFoundError:
        return cls(f'{qualified(resource, group)} "{name}" not found', StatusDetails(name, group, resource))


class MethodNotAllowedError(StatusError):
    code = 405
    reason = "MethodNotAllowed"


class AlreadyExistsError(StatusError):
    code = 409
    reason = "AlreadyExists"

    @classmethod
    def for_resource(cls, resource: str, group: str, name: str) -> AlreadyExistsError:
        return cls(f'{qualified(resource, group)} "{name}" already exists', StatusDetails(name, group, resource))


class ConflictError(StatusError):
    """409 Conflict: a stale resourceVersion or a failed precondition; nothing was written."""

    code = 409
    reason = "Conflict"

    @classmethod
    def for_resource(cls, resource: str, group: str, name: str, why: str) -> ConflictError:
        message = f'Operation cannot be fulfilled on {qualified(resource, group)} "{name}": {why}'
        return cls(message, StatusDetails(name, group, resource))


OPTIMISTIC_LOCK_MESSAGE = "the object has been modified; please apply your changes to the latest version and try again"


class GoneError(StatusError):
    """410 Gone: the requested resourceVersion has been compacted away."""

    code = 410
    reason = "Gone"


class ExpiredError(StatusError):
    """410 Expired: a list's continue token points before the compacted revision."""

    code = 410
    reason = "Expired"


class RequestEntityTooLargeError(StatusError):
    code = 413
    reason = "RequestEntityTooLarge"


class UnsupportedMediaTypeError(StatusError):
    code = 415
    reason = "UnsupportedMediaType"


class InvalidError(StatusError):
    """422 Invalid: every offending field of the object, each a cause."""

    code = 422
    reason = "Invalid"

    def __init__(self, message: str, details: StatusDetails | None = None, errors: Iterable[FieldError] = ()) -> None:
        super().__init__(message, details)
        self.errors = tuple(errors)

    @classmethod
    def for_object(cls, kind: str, group: str, name: str, errors: Iterable[FieldError]) -> InvalidError:
        """`Pod "web-0" is invalid: [a: ..., b: ...]` (no brackets for a single error), as NewInvalid."""
        errs = tuple(errors)
        listed = str(errs[0]) if len(errs) == 1 else "[" + ", ".join(str(e) for e in errs) + "]"
        message = f'{kind}.{group} "{name}" is invalid: {listed}' if group else f'{kind} "{name}" is invalid: {listed}'
        details = StatusDetails(name, group, kind, causes=tuple(e.to_cause() for e in errs))
        return cls(message, details, errs)


class TooManyRequestsError(StatusError):
    code = 429
    reason = "TooManyRequests"


class InternalError(StatusError):
    code = 500
    reason = "InternalError"


class ServerTimeoutError(StatusError):
    code = 500
    reason = "ServerTimeout"


class ServiceUnavailableError(StatusError):
    code = 503
    reason = "ServiceUnavailable"


class GatewayTimeoutError(StatusError):
    """504 Timeout (errors.NewTimeoutError): the request could not finish in time."""

    code = 504
    reason = "Timeout"


_BY_REASON: dict[str, type[StatusError]] = {
    c.reason: c
    for c in (
        BadRequestError,
        UnauthorizedError,
        ForbiddenError,
        NotFoundError,
        MethodNotAllowedError,
        AlreadyExistsError,
        ConflictError,
        GoneError,
        ExpiredError,
        RequestEntityTooLargeError,
        UnsupportedMediaTypeError,
        InvalidError,
        TooManyRequestsError,
        InternalError,
        ServerTimeoutError,
        ServiceUnavailableError,
        GatewayTimeoutError,
    )
}


def from_status(status: Mapping[str, Any]) -> StatusError:
    """The StatusError a `Status` dict stands for (unknown reasons keep their code as InternalError)."""
    cls = _BY_REASON.get(str(status.get("reason", "")), StatusError)
    details = StatusDetails.from_dict(status.get("details"))
    err = cls(str(status.get("message", "")), details)
    if cls is StatusError and status.get("code"):
        err.code = int(status["code"])  # type: ignore[misc]
    return err


def is_not_found(err: BaseException) -> bool:
    return isinstance(err, NotFoundError)


def is_conflict(err: BaseException) -> bool:
    return isinstance(err, ConflictError)


def is_already_exists(err: BaseException) -> bool:
    return isinstance(err, AlreadyExistsError)


def is_gone(err: BaseException) -> bool:
    """Gone or Expired: the caller must relist (client-go's IsResourceExpired / IsGone)."""
    return isinstance(err, GoneError | ExpiredError)


def is_invalid(err: BaseException) -> bool:
    return isinstance(err, InvalidError)


def is_too_many_requests(err: BaseException) -> bool:
    return isinstance(err, TooManyRequestsError)


__all__ = [
    "OPTIMISTIC_LOCK_MESSAGE",
    "AlreadyExistsError",
    "BadRequestError",
    "CauseType",
    "ConflictError",
    "ExpiredError",
    "FieldError",
    "ForbiddenError",
    "GatewayTimeoutError",
    "GoneError",
    "InternalError",
    "InvalidError",
    "MethodNotAllowedError",
    "NotFoundError",
    "RequestEntityTooLargeError",
    "ServerTimeoutError",
    "ServiceUnavailableError",
    "StatusDetails",
    "StatusError",
    "TooManyRequestsError",
    "UnauthorizedError",
    "UnsupportedMediaTypeError",
    "duplicate",
    "forbidden",
    "from_status",
    "invalid",
    "is_already_exists",
    "is_conflict",
    "is_gone",
    "is_invalid",
    "is_not_found",
    "is_too_many_requests",
    "not_supported",
    "qualified",
    "required",
    "too_long",
    "type_invalid",
]
