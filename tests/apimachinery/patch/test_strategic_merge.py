"""Strategic merge patch as kube-apiserver applies it to built-in kinds (k8s.io strategicpatch)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from apimachinery.errors import BadRequestError, InternalError, InvalidError, UnsupportedMediaTypeError
from apimachinery.kinds.merge_keys import SCHEMAS
from apimachinery.patch import PatchType, apply_patch


def smp(original: dict[str, Any], patch: Any, kind: str = "Pod", group: str = "") -> dict[str, Any]:
    before = copy.deepcopy(original)
    result = apply_patch(PatchType.STRATEGIC_MERGE, original, patch, group=group, kind=kind)
    assert original == before
    return result


def pod(*containers: dict[str, Any], **spec: Any) -> dict[str, Any]:
    return {"metadata": {"name": "web"}, "spec": {"containers": list(containers), **spec}}


APP = {"name": "app", "image": "app:1", "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]}
LOG = {"name": "log", "image": "log:1"}


def test_containers_merge_by_name() -> None:
    """PodSpec.containers is patchStrategy=merge, patchMergeKey=name; Container.env merges by name."""
    patch = {"spec": {"containers": [{"name": "app", "image": "app:2", "env": [{"name": "B", "value": "3"}]}]}}
    result = smp(pod(APP, LOG), patch)
    app, log = result["spec"]["containers"]
    assert app == {"name": "app", "image": "app:2", "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "3"}]}
    assert log == LOG


def test_new_element_goes_before_live_ones() -> None:
    """mergeSortedSlice: an element not in the live list is placed first (as in the kubectl patch docs)."""
    result = smp(pod(APP), {"spec": {"containers": [{"name": "log", "image": "log:1"}]}})
    assert [c["name"] for c in result["spec"]["containers"]] == ["log", "app"]


def test_patch_delete_removes_a_container() -> None:
    """`{"$patch": "delete", <mergeKey>: v}` in a merged list deletes the elements with that key."""
    result = smp(pod(APP, LOG), {"spec": {"containers": [{"name": "log", "$patch": "delete"}]}})
    assert result["spec"]["containers"] == [APP]


def test_patch_delete_in_a_map_empties_it() -> None:
    """handleDirectiveInMergeMap: `$patch: delete` in a map yields an empty map."""
    original = pod(APP, nodeSelector={"disk": "ssd"})
    assert smp(original, {"spec": {"nodeSelector": {"$patch": "delete"}}})["spec"]["nodeSelector"] == {}


def test_patch_replace_on_a_map() -> None:
    """handleDirectiveInMergeMap: `$patch: replace` makes the patch map replace the original map."""
    original = pod(APP, nodeSelector={"disk": "ssd", "zone": "a"})
    result = smp(original, {"spec": {"nodeSelector": {"$patch": "replace", "gpu": "yes"}}})
    assert result["spec"]["nodeSelector"] == {"gpu": "yes"}


def test_patch_replace_on_a_list() -> None:
    """mergeSliceWithSpecialElements: a `{"$patch": "replace"}` element replaces the whole list."""
    result = smp(pod(APP, LOG), {"spec": {"containers": [{"name": "new", "image": "n:1"}, {"$patch": "replace"}]}})
    assert result["spec"]["containers"] == [{"name": "new", "image": "n:1"}]


def test_retain_keys_clears_unlisted_fields() -> None:
    """PodSpec.volumes is merge,retainKeys: `$retainKeys` clears the volume source not listed."""
    original = pod(APP, volumes=[{"name": "data", "emptyDir": {}}])
    patch = {"spec": {"volumes": [{"name": "data", "configMap": {"name": "cm"}, "$retainKeys": ["configMap", "name"]}]}}
    assert smp(original, patch)["spec"]["volumes"] == [{"name": "data", "configMap": {"name": "cm"}}]


def test_retain_keys_must_list_every_patched_key() -> None:
    """applyRetainKeysDirective: a patched key missing from `$retainKeys` is 400 (invalid patch format)."""
    patch = {"spec": {"volumes": [{"name": "data", "hostPath": {"path": "/x"}, "$retainKeys": ["name"]}]}}
    with pytest.raises(BadRequestError, match="invalid patch format of retainKeys"):
        smp(pod(APP, volumes=[{"name": "data"}]), patch)


def test_set_element_order_orders_the_merged_list() -> None:
    """`$setElementOrder/containers`: the merged list follows the directive's order."""
    third = {"name": "proxy", "image": "p:1"}
    patch = {
        "spec": {
            "$setElementOrder/containers": [{"name": "proxy"}, {"name": "log"}, {"name": "app"}],
            "containers": [{"name": "log", "image": "log:2"}],
        }
    }
    result = smp(pod(APP, LOG, third), patch)
    assert [c["name"] for c in result["spec"]["containers"]] == ["proxy", "log", "app"]
    assert result["spec"]["containers"][1]["image"] == "log:2"


def test_patch_order_wins_over_live_order() -> None:
    """normalizeElementOrder: patch elements keep the patch's order; live-only ones keep their place."""
    c = {"name": "c", "image": "c"}
    patch = {"spec": {"containers": [{"name": "log", "image": "x"}, {"name": "app", "image": "y"}]}}
    assert [x["name"] for x in smp(pod(APP, LOG, c), patch)["spec"]["containers"]] == ["log", "app", "c"]


def test_finalizers_merge_as_a_set_and_delete_from_primitive_list() -> None:
    """ObjectMeta.finalizers is patchStrategy=merge: union; `$deleteFromPrimitiveList/` removes."""
    original = {"metadata": {"name": "web", "finalizers": ["a", "b"]}}
    assert smp(original, {"metadata": {"finalizers": ["b", "c"]}})["metadata"]["finalizers"] == ["a", "b", "c"]
    patch = {"metadata": {"$deleteFromPrimitiveList/finalizers": ["a"]}}
    assert smp(original, patch)["metadata"]["finalizers"] == ["b"]


def test_owner_references_merge_by_uid() -> None:
    """ObjectMeta.ownerReferences is patchStrategy=merge, patchMergeKey=uid."""
    original = {"metadata": {"ownerReferences": [{"uid": "1", "name": "rs-a"}]}}
    result = smp(original, {"metadata": {"ownerReferences": [{"uid": "2", "name": "rs-b"}]}}, kind="ConfigMap")
    assert [o["uid"] for o in result["metadata"]["ownerReferences"]] == ["2", "1"]


def test_null_removes_a_key() -> None:
    """As in a merge patch, null deletes a map key (and is dropped when the key is absent)."""
    original = {"metadata": {"name": "web", "labels": {"a": "1", "b": "2"}}}
    result = smp(original, {"metadata": {"labels": {"a": None, "zzz": None}}})
    assert result["metadata"]["labels"] == {"b": "2"}


def test_primitive_list_without_strategy_is_replaced() -> None:
    """Container.args has no patch tags: the patch list replaces the live one."""
    original = pod({"name": "app", "args": ["--a", "--b"]})
    result = smp(original, {"spec": {"containers": [{"name": "app", "args": ["--c"]}]}})
    assert result["spec"]["containers"][0]["args"] == ["--c"]


def test_object_list_without_merge_key_is_replaced() -> None:
    """PodSpec.tolerations has no patch tags: replaced whole."""
    original = pod(APP, tolerations=[{"key": "a"}, {"key": "b"}])
    assert smp(original, {"spec": {"tolerations": [{"key": "c"}]}})["spec"]["tolerations"] == [{"key": "c"}]


def test_node_pod_cidrs_merge() -> None:
    """NodeSpec.podCIDRs is patchStrategy=merge on a primitive list (a set)."""
    node = {"spec": {"podCIDRs": ["10.0.0.0/24"]}}
    result = smp(node, {"spec": {"podCIDRs": ["fd00::/64"]}}, kind="Node")
    assert result["spec"]["podCIDRs"] == ["fd00::/64", "10.0.0.0/24"]  # new values first


def test_deployment_pod_template_uses_pod_spec_keys() -> None:
    """apps/v1 Deployment: spec.template.spec carries PodSpec's tags (containers by name, ...)."""
    deployment = {
        "spec": {"replicas": 1, "template": {"metadata": {"labels": {"app": "web"}}, "spec": pod(APP, LOG)["spec"]}}
    }
    patch = {
        "spec": {
            "template": {
                "spec": {
                    "containers": [
                        {"name": "app", "env": [{"name": "C", "value": "3"}]},
                        {"name": "log", "$patch": "delete"},
                    ]
                }
            }
        }
    }
    result = smp(deployment, patch, kind="Deployment", group="apps")
    (app,) = result["spec"]["template"]["spec"]["containers"]
    assert [e["name"] for e in app["env"]] == ["C", "A", "B"]
    assert result["spec"]["template"]["metadata"] == {"labels": {"app": "web"}}


def test_status_conditions_merge_by_type() -> None:
    """DeploymentStatus.conditions is patchStrategy=merge, patchMergeKey=type."""
    original = {
        "status": {"conditions": [{"type": "Available", "status": "True"}, {"type": "Progressing", "status": "True"}]}
    }
    result = smp(original, {"status": {"conditions": [{"type": "Available", "status": "False"}]}}, "Deployment", "apps")
    assert result["status"]["conditions"] == [
        {"type": "Available", "status": "False"},
        {"type": "Progressing", "status": "True"},
    ]


def test_custom_resource_is_refused_with_415() -> None:
    """apiextensions-apiserver serves CRs without strategic merge: 415 with the accepted types."""
    with pytest.raises(UnsupportedMediaTypeError) as info:
        smp({"spec": {}}, {"spec": {"x": 1}}, kind="Widget", group="example.com")
    assert info.value.code == 415
    assert info.value.message == (
        "the body of the request was in an unknown format - accepted media types include: "
        "application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml"
    )


@pytest.mark.parametrize(
    ("patch", "error", "code"),
    [
        (b"[1, 2]", BadRequestError, 400),
        ({"metadata": {"$retainKeys": "name"}}, BadRequestError, 400),
        ({"metadata": {"$setElementOrder/finalizers": "a"}}, BadRequestError, 400),
        ({"metadata": {"$deleteFromPrimitiveList/finalizers": "a"}}, BadRequestError, 400),
        ({"spec": {"containers": [[1]]}}, InvalidError, 422),
        ({"spec": {"containers": [{"image": "no-name"}]}}, InternalError, 500),
        ({"spec": {"containers": [{"$patch": "merge"}]}}, InternalError, 500),
        ({"spec": {"$patch": "merge"}}, InternalError, 500),
    ],
)
def test_malformed_patches(patch: Any, error: type[Exception], code: int) -> None:
    """interpretStrategicMergePatchError: format errors 400, list of lists 422, unmapped errors 500."""
    with pytest.raises(error) as info:
        smp(pod(APP), patch)
    assert getattr(info.value, "code", None) == code


def test_every_kind_has_metadata_keys() -> None:
    """Every kind in the table merges metadata.ownerReferences by uid and finalizers as a set."""
    for schema in SCHEMAS.values():
        meta = schema["metadata"].fields
        assert (meta["ownerReferences"].merge_key, meta["finalizers"].strategy) == ("uid", "merge")
