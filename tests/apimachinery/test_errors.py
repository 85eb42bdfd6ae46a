"""API errors as kube-apiserver's Status objects (k8s.io/apimachinery/pkg/api/errors)."""

from __future__ import annotations

import pytest

from apimachinery import errors
from apimachinery.errors import (
    OPTIMISTIC_LOCK_MESSAGE,
    AlreadyExistsError,
    ConflictError,
    ExpiredError,
    GoneError,
    InvalidError,
    NotFoundError,
    StatusError,
)


def test_not_found_status_names_the_group_resource_and_object() -> None:
    """errors.NewNotFound: `deployments.apps "web" not found`, details name/group/kind, code 404."""
    status = NotFoundError.for_resource("deployments", "apps", "web").to_status()
    assert status == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": 'deployments.apps "web" not found',
        "reason": "NotFound",
        "details": {"name": "web", "group": "apps", "kind": "deployments"},
        "code": 404,
    }


def test_conflict_wording_matches_the_optimistic_lock_failure() -> None:
    err = ConflictError.for_resource("pods", "", "web-0", OPTIMISTIC_LOCK_MESSAGE)
    assert err.code == 409 and err.reason == "Conflict"
    assert str(err) == (
        'Operation cannot be fulfilled on pods "web-0": the object has been modified; '
        "please apply your changes to the latest version and try again"
    )


def test_invalid_lists_every_field_as_a_cause() -> None:
    """errors.NewInvalid: one cause per field error; the message lists them in brackets when several."""
    one = InvalidError.for_object("Pod", "", "web-0", [errors.required("spec.containers")])
    assert str(one) == 'Pod "web-0" is invalid: spec.containers: Required value'
    many = InvalidError.for_object(
        "Deployment",
        "apps",
        "web",
        [errors.invalid("metadata.name", "Web", "must be lower case"), errors.required("spec.selector")],
    )
    assert str(many) == (
        'Deployment.apps "web" is invalid: [metadata.name: Invalid value: "Web": must be lower case, '
        "spec.selector: Required value]"
    )
    assert many.code == 422
    assert [c["field"] for c in many.to_status()["details"]["causes"]] == ["metadata.name", "spec.selector"]
    assert many.causes[0] == {
        "reason": "FieldValueInvalid",
        "message": 'Invalid value: "Web": must be lower case',
        "field": "metadata.name",
    }


def test_field_error_wording() -> None:
    """field.Error.Error(): `<path>: <type words>[: <value>][: <detail>]`."""
    assert str(errors.not_supported("spec.restartPolicy", "Sometimes", ["Always", "Never"])) == (
        'spec.restartPolicy: Unsupported value: "Sometimes": supported values: "Always", "Never"'
    )
    assert str(errors.too_long("metadata.annotations", "", 262144)) == (
        'metadata.annotations: Too long: "": must have at most 262144 bytes'
    )
    assert str(errors.forbidden("metadata.namespace", "not allowed on this type")) == (
        "metadata.namespace: Forbidden: not allowed on this type"
    )
    assert str(errors.duplicate("spec.containers[1].name", "web")) == 'spec.containers[1].name: Duplicate value: "web"'


@pytest.mark.parametrize(
    "err",
    [
        NotFoundError.for_resource("pods", "", "x"),
        AlreadyExistsError.for_resource("pods", "", "x"),
        GoneError("too old resource version: 5 (10)"),
        ExpiredError("The provided continue parameter is too old"),
        InvalidError.for_object("Pod", "", "x", [errors.required("spec")]),
    ],
)
def test_status_round_trips_to_the_same_class(err: StatusError) -> None:
    back = errors.from_status(err.to_status())
    assert type(back) is type(err)
    assert back.to_status() == err.to_status()


def test_gone_and_expired_both_mean_relist() -> None:
    """client-go treats 410 Gone and Expired alike: the reflector relists."""
    assert errors.is_gone(GoneError("x")) and errors.is_gone(ExpiredError("x"))
    assert not errors.is_gone(ConflictError("x"))
    assert errors.from_status({"reason": "Weird", "code": 418, "message": "m"}).code == 418
