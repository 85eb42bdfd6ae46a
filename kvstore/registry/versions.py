"""resourceVersion strings and the errors kube-apiserver gives for unusable ones."""

from __future__ import annotations

from apimachinery.errors import BadRequestError, GatewayTimeoutError, GoneError, StatusDetails


def parse_resource_version(value: str, field: str = "resourceVersion") -> int:
    """A resourceVersion string as a revision; BadRequest naming the field if it is not one."""
    try:
        rev = int(value)
    except ValueError:
        raise BadRequestError(f'{field}: Invalid value: "{value}": must be a non-negative integer') from None
    if rev < 0:
        raise BadRequestError(f'{field}: Invalid value: "{value}": must be a non-negative integer')
    return rev


def too_old(requested: int, compacted: int) -> GoneError:
    """410 Gone: the requested revision was compacted away."""
    return GoneError(f"too old resource version: {requested} ({compacted})")


def too_large(revision: int) -> GatewayTimeoutError:
    """504 with cause ResourceVersionTooLarge: the store has not reached `revision`."""
    cause = {"reason": "ResourceVersionTooLarge", "message": "Too large resource version", "field": ""}
    return GatewayTimeoutError(
        f"Too large resource version: {revision}",
        StatusDetails(causes=(cause,), retry_after_seconds=1),
    )
