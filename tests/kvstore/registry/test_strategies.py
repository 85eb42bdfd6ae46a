"""The per-resource strategies, hook by hook, as kube-apiserver's REST strategies decide:
which one serves a resource, what each hook does for built-in kinds, CRDs and custom
resources, and that the deciding hooks are synchronous (decide first, then the I/O)."""

from __future__ import annotations

import inspect
from typing import Any

import pytest

import kvstore
from apimachinery.schema import GroupVersionResource, RESTMapper
from kvstore.messages import DeleteRangeRequest, prefix_range_end
from kvstore.registry import Registry
from kvstore.registry.crd import CRDS, CustomResources
from kvstore.registry.strategies import (
    CustomResourceDefinitionStrategy,
    CustomResourceStrategy,
    DefaultStrategy,
    Strategy,
)
from tests.kvstore.registry.test_crd import WIDGETS, crd, widget

PODS = GroupVersionResource("", "v1", "pods")
DEPLOY = GroupVersionResource("apps", "v1", "deployments")
CMS = GroupVersionResource("", "v1", "configmaps")
NOSTATUS = GroupVersionResource("example.com", "v1", "gadgets")


@pytest.fixture
async def registry(store: kvstore.Store) -> Registry:
    reg = Registry(store)
    await reg.bootstrap()
    await reg.create(CRDS, crd())
    await reg.create(CRDS, crd("gadgets", "Gadget", status=False))
    return reg


@pytest.mark.parametrize(
    ("gvr", "kind"),
    [
        (PODS, DefaultStrategy),
        (DEPLOY, DefaultStrategy),
        (CRDS, CustomResourceDefinitionStrategy),
        (WIDGETS, CustomResourceStrategy),
    ],
)
async def test_the_registry_picks_the_strategy_of_each_resource(
    registry: Registry, gvr: GroupVersionResource, kind: type
) -> None:
    """kube-apiserver builds each resource's REST storage with its own strategy: built-in
    kinds the generic one, CRDs apiextensions', custom resources one per served version."""
    strategy = registry.strategy_for(registry.mapper.info(gvr))
    assert type(strategy) is kind and strategy.info == registry.mapper.info(gvr)


def test_deciding_hooks_are_synchronous_for_every_strategy() -> None:
    """Strategies decide and the registry does the I/O: no hook is a coroutine, so none
    can read or write the store (kube's strategies get no storage either)."""
    hooks = [name for name in dir(Strategy) if not name.startswith("_")]
    assert {"prepare_for_create", "validate", "canonicalize", "delete_ops", "after_delete"} <= set(hooks)
    for cls in (DefaultStrategy, CustomResourceDefinitionStrategy, CustomResourceStrategy):
        for name in hooks:
            assert not inspect.iscoroutinefunction(getattr(cls, name, None)), (cls.__name__, name)


def _updated(strategy: Strategy, old: dict[str, Any], **top: Any) -> int:
    """The generation prepare_for_update gives `old` changed at its top level by `top`."""
    new = {**old, **top}
    return int(strategy.prepare_for_update(new, old)["metadata"]["generation"])


@pytest.mark.parametrize(
    ("gvr", "change", "generation"),
    [
        (DEPLOY, {"spec": {"replicas": 3}}, 2),  # spec: a new generation
        (DEPLOY, {"metadata": {"name": "x", "generation": 1, "labels": {"a": "b"}}}, 1),  # metadata: not
        (CMS, {"data": {"k": "w"}}, 1),  # built-in kinds count spec only
        (WIDGETS, {"data": {"k": "w"}}, 2),  # custom resources: any content but metadata...
        (WIDGETS, {"status": {"ready": True}}, 1),  # ...and status, when it is a subresource
        (NOSTATUS, {"status": {"ready": True}}, 2),  # without the subresource status is content
    ],
)
async def test_generation_counts_what_the_strategy_says(
    registry: Registry, gvr: GroupVersionResource, change: dict[str, Any], generation: int
) -> None:
    """metadata.generation: built-in strategies bump it on spec changes, the custom resource
    strategy on any change but metadata (and status when /status is served)."""
    strategy = registry.strategy_for(registry.mapper.info(gvr))
    old = {"metadata": {"name": "x", "generation": 1}, "spec": {"replicas": 1}}
    assert _updated(strategy, old, **change) == generation


async def test_delete_ops_of_a_crd_take_every_object_it_serves(registry: Registry) -> None:
    """Deleting a CRD removes the objects of its resource in the same transaction; any
    other resource's delete removes only its key."""
    key = b"/registry/apiextensions.k8s.io/customresourcedefinitions/widgets.example.com"
    definition = await registry.get(CRDS, "widgets.example.com")
    ops = registry.strategy_for(registry.mapper.info(CRDS)).delete_ops(key, definition)
    prefix = b"/registry/example.com/widgets/"
    assert ops == [DeleteRangeRequest(key), DeleteRangeRequest(prefix, prefix_range_end(prefix))]
    assert registry.strategy_for(registry.mapper.info(PODS)).delete_ops(b"k", {}) == [DeleteRangeRequest(b"k")]


def test_crd_strategy_defaults_refuses_taken_names_and_establishes() -> None:
    """apiextensions: a CRD is defaulted (singular, listKind, served), refused when its names
    are served already, marked NamesAccepted/Established when valid, and served once
    written, until deleted (the after-write hooks)."""
    mapper = RESTMapper.with_builtins()
    crds = CustomResources(mapper)
    strategy = CustomResourceDefinitionStrategy(mapper.info(CRDS), crds)
    prepared = strategy.prepare_for_create(crd(), "")
    names = prepared["spec"]["names"]
    assert (names["singular"], names["listKind"]) == ("widget", "WidgetList")
    assert strategy.validate(prepared) == []
    established = strategy.canonicalize(prepared)
    assert [c["type"] for c in established["status"]["conditions"]] == ["NamesAccepted", "Established"]
    assert established["status"]["storedVersions"] == ["v1"]
    strategy.after_create(established)
    assert WIDGETS in mapper
    clash = strategy.prepare_for_create(crd("gadgets", "Widget"), "")
    assert [e.field for e in strategy.validate(clash)] == ["spec.names.kind"]
    strategy.after_delete(established)
    assert WIDGETS not in mapper


async def test_custom_resource_strategy_prunes_then_validates_by_schema(registry: Registry) -> None:
    """Custom resources: fields the schema does not declare are pruned, then the object is
    validated against the version's openAPIV3Schema (every error listed)."""
    strategy = registry.strategy_for(registry.mapper.info(WIDGETS))
    prepared = strategy.prepare_for_create({**widget(size=0), "junk": 1}, "default")
    assert "junk" not in prepared and prepared["metadata"]["namespace"] == "default"
    assert [e.field for e in strategy.validate(prepared)] == ["spec.size"]
    assert strategy.validate(strategy.prepare_for_create(widget(), "default")) == []
