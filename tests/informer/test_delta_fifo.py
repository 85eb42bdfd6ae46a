"""DeltaFIFO (client-go tools/cache/delta_fifo.go): each test names the client-go behaviour it checks."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from informer.delta_fifo import DeletedFinalStateUnknown, Delta, DeltaFIFO, Deltas, DeltaType
from informer.errors import FIFOClosedError, KeyFuncError
from informer.store import Indexer

ADDED, UPDATED, DELETED, REPLACED, SYNC = (
    DeltaType.ADDED,
    DeltaType.UPDATED,
    DeltaType.DELETED,
    DeltaType.REPLACED,
    DeltaType.SYNC,
)


def obj(name: str, rv: str = "1") -> dict[str, Any]:
    return {"metadata": {"namespace": "ns", "name": name, "resourceVersion": rv}}


def tomb(name: str, last: Any) -> DeletedFinalStateUnknown:
    return DeletedFinalStateUnknown(f"ns/{name}", last)


def known(*objects: dict[str, Any]) -> Indexer:
    store = Indexer()
    for o in objects:
        store.add(o)
    return store


def queued(fifo: DeltaFIFO) -> dict[str, list[tuple[DeltaType, Any]]]:
    """The queue as client-go draws it: keys in queue order, each with its deltas oldest first."""
    out: dict[str, list[tuple[DeltaType, Any]]] = {}
    for key in fifo.list_keys():
        deltas = fifo.get_by_key(key)
        assert deltas
        out[key] = [(d.type, d.object) for d in deltas]
    return out


async def pop_all(fifo: DeltaFIFO) -> list[tuple[Deltas, bool]]:
    popped: list[tuple[Deltas, bool]] = []
    while fifo.list_keys():
        await fifo.pop(lambda deltas, initial: popped.append((deltas, initial)))
    return popped


# -- accumulation and dedup ----------------------------------------------------------------


async def test_popped_deltas_carry_their_key() -> None:
    """The consumer gets the queue's key with the Deltas (no second key computation); a
    tombstone's Deltas carry the tombstone's key."""
    fifo = DeltaFIFO(known_objects=known(obj("b")))
    fifo.add(obj("a"))
    fifo.delete(obj("a"))
    fifo.delete(tomb("b", obj("b")))
    popped = await pop_all(fifo)
    assert [d.key for d, _ in popped] == ["ns/a", "ns/b"]
    assert fifo.get_by_key("ns/a") is None
    assert Deltas().key == ""


def test_deltas_accumulate_in_order_and_the_key_keeps_its_first_place() -> None:
    """queueActionLocked appends to the key's Deltas; a key already in `queue` is not queued again."""
    fifo = DeltaFIFO()
    a1, b1, a2, a3 = obj("a", "1"), obj("b", "2"), obj("a", "3"), obj("a", "4")
    fifo.add(a1)
    fifo.add(b1)
    fifo.update(a2)
    fifo.delete(a3)
    assert fifo.list_keys() == ["ns/a", "ns/b"]
    assert queued(fifo) == {"ns/a": [(ADDED, a1), (UPDATED, a2), (DELETED, a3)], "ns/b": [(ADDED, b1)]}
    assert fifo.list() == [a3, b1]


@pytest.mark.parametrize(
    ("older", "newer", "kept"),
    [
        (obj("a", "1"), obj("a", "2"), obj("a", "1")),
        (tomb("a", obj("a", "1")), obj("a", "2"), obj("a", "2")),
        (obj("a", "1"), tomb("a", obj("a", "0")), obj("a", "1")),
        (tomb("a", None), tomb("a", obj("a", "0")), tomb("a", obj("a", "0"))),
    ],
    ids=["both-real-keep-older", "older-tombstone-keep-newer", "newer-tombstone-keep-older", "both-tombstones"],
)
def test_two_consecutive_deletes_collapse_to_one(older: Any, newer: Any, kept: Any) -> None:
    """isDeletionDup: keep the older deletion unless its object is a DeletedFinalStateUnknown."""
    fifo = DeltaFIFO()
    fifo.add(obj("a", "0"))
    fifo.delete(older)
    fifo.delete(newer)
    assert queued(fifo) == {"ns/a": [(ADDED, obj("a", "0")), (DELETED, kept)]}


@pytest.mark.parametrize(
    ("ops", "types"),
    [
        ([("add", "1"), ("add", "1")], [ADDED, ADDED]),
        ([("update", "1"), ("update", "1")], [UPDATED, UPDATED]),
        ([("add", "1"), ("delete", "1"), ("add", "2"), ("delete", "2")], [ADDED, DELETED, ADDED, DELETED]),
        ([("add", "1"), ("delete", "1"), ("delete", "1"), ("delete", "1")], [ADDED, DELETED]),
    ],
    ids=["added-twice", "updated-twice", "deletes-not-consecutive", "three-deletes"],
)
def test_dedup_deltas_collapses_only_consecutive_deletes(ops: list[tuple[str, str]], types: list[DeltaType]) -> None:
    """dedupDeltas compares only the two newest deltas, and isDup knows only deletion duplicates."""
    fifo = DeltaFIFO()
    for op, rv in ops:
        getattr(fifo, op)(obj("a", rv))
    deltas = fifo.get_by_key("ns/a")
    assert deltas is not None and [d.type for d in deltas] == types


# -- delete of unknown keys ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("with_known", "in_known", "in_queue", "queues_delete"),
    [
        (False, False, False, False),
        (False, False, True, True),
        (True, False, False, False),
        (True, True, False, True),
        (True, False, True, True),
        (True, True, True, True),
    ],
    ids=["no-known:absent", "no-known:queued", "known:absent", "known:known-only", "known:queued-only", "known:both"],
)
def test_deleting_a_key_neither_queued_nor_known_is_ignored(
    with_known: bool, in_known: bool, in_queue: bool, queues_delete: bool
) -> None:
    """DeltaFIFO.Delete: skipped only if the key has no queued Deltas and knownObjects (if any) lacks it."""
    fifo = DeltaFIFO(known_objects=known(obj("a")) if in_known else known()) if with_known else DeltaFIFO()
    if in_queue:
        fifo.update(obj("a"))
    fifo.delete(obj("a", "2"))
    deltas = fifo.get_by_key("ns/a") or Deltas()
    assert (Delta(DELETED, obj("a", "2")) in deltas) == queues_delete
    assert fifo.has_synced()  # Delete sets populated even when it ignores the object


# -- replace -------------------------------------------------------------------------------


@pytest.mark.parametrize(("emit_replaced", "action"), [(False, SYNC), (True, REPLACED)])
def test_replace_queues_sync_or_replaced_for_every_listed_object(emit_replaced: bool, action: DeltaType) -> None:
    """DeltaFIFO.Replace: Sync for each listed object, or Replaced with EmitDeltaTypeReplaced."""
    fifo = DeltaFIFO(emit_delta_type_replaced=emit_replaced)
    a, b = obj("a"), obj("b")
    fifo.replace([a, b], "10")
    assert queued(fifo) == {"ns/a": [(action, a)], "ns/b": [(action, b)]}
    assert fifo.last_sync_resource_version() == "10"


def test_replace_tombstones_queued_keys_missing_from_the_list_with_the_newest_queued_object() -> None:
    """Replace: deletion detection against f.items; the tombstone carries the newest queued delta's object."""
    fifo = DeltaFIFO()
    a1, a2, b1, c1 = obj("a", "1"), obj("a", "2"), obj("b", "1"), obj("c", "1")
    fifo.add(a1)
    fifo.update(a2)
    fifo.add(b1)
    fifo.replace([c1], "5")
    assert queued(fifo) == {
        "ns/a": [(ADDED, a1), (UPDATED, a2), (DELETED, tomb("a", a2))],
        "ns/b": [(ADDED, b1), (DELETED, tomb("b", b1))],
        "ns/c": [(SYNC, c1)],
    }


def test_replace_tombstones_known_keys_missing_from_the_list_with_the_known_object() -> None:
    """Replace: deletion detection against knownObjects for keys with nothing queued."""
    a_known, b_known, b_queued = obj("a", "1"), obj("b", "1"), obj("b", "2")
    fifo = DeltaFIFO(known_objects=known(a_known, b_known))
    fifo.update(b_queued)
    fifo.replace([], "5")
    assert queued(fifo) == {
        "ns/b": [(UPDATED, b_queued), (DELETED, tomb("b", b_queued))],  # one tombstone, from the queue
        "ns/a": [(DELETED, tomb("a", a_known))],
    }


def test_replace_unwraps_a_queued_tombstone() -> None:
    """Replace: when the newest queued object is a DeletedFinalStateUnknown, its inner object is carried."""
    fifo = DeltaFIFO()
    fifo.add(obj("a"))
    fifo.replace([], "1")
    fifo.add(obj("b"))
    fifo.replace([obj("b")], "2")
    assert queued(fifo)["ns/a"] == [(ADDED, obj("a")), (DELETED, tomb("a", obj("a")))]


def test_replace_keeps_a_listed_key_that_is_also_known() -> None:
    """Replace: a key in the list is never tombstoned, known or queued."""
    a_known, a_listed = obj("a", "1"), obj("a", "2")
    fifo = DeltaFIFO(known_objects=known(a_known))
    fifo.replace([a_listed], "3")
    assert queued(fifo) == {"ns/a": [(SYNC, a_listed)]}


def test_replace_computes_every_key_before_queueing() -> None:
    """Replace returns KeyError for an unkeyable object; here nothing has been queued when it does."""
    fifo = DeltaFIFO()
    with pytest.raises(KeyFuncError):
        fifo.replace([obj("a"), {"metadata": {}}], "1")
    assert fifo.list_keys() == []
    assert not fifo.has_synced()


# -- resync --------------------------------------------------------------------------------


def test_resync_queues_sync_only_for_known_keys_with_nothing_queued() -> None:
    """DeltaFIFO.Resync/syncKeyLocked: Sync for each known object, skipped if its key has queued Deltas."""
    a_known, b_known, b_new = obj("a", "1"), obj("b", "1"), obj("b", "2")
    fifo = DeltaFIFO(known_objects=known(a_known, b_known))
    fifo.update(b_new)
    fifo.resync()
    assert queued(fifo) == {"ns/b": [(UPDATED, b_new)], "ns/a": [(SYNC, a_known)]}


def test_resync_without_known_objects_does_nothing() -> None:
    """DeltaFIFO.Resync: a nil knownObjects means nothing to resync."""
    fifo = DeltaFIFO()
    fifo.add(obj("a"))
    fifo.resync()
    assert queued(fifo) == {"ns/a": [(ADDED, obj("a"))]}


# -- has_synced ----------------------------------------------------------------------------


async def test_has_synced_after_the_first_replace_is_popped() -> None:
    """HasSynced: populated && initialPopulationCount == 0; the count covers items and queued deletions."""
    fifo = DeltaFIFO(known_objects=known(obj("gone")))
    assert not fifo.has_synced()
    fifo.replace([obj("a"), obj("b")], "1")  # 2 items + 1 tombstone
    fifo.add(obj("c"))  # not part of the initial population
    synced = []
    for _ in range(4):
        synced.append(fifo.has_synced())
        await fifo.pop(lambda deltas, initial: None)
    assert synced == [False, False, False, True]
    assert fifo.has_synced()


def test_has_synced_at_once_for_an_empty_first_replace() -> None:
    """HasSynced: an initial population of zero items is synced as soon as Replace returns."""
    fifo = DeltaFIFO()
    fifo.replace([], "1")
    assert fifo.has_synced()


@pytest.mark.parametrize("op", ["add", "update", "delete", "add_if_not_present"])
def test_has_synced_when_a_write_comes_before_any_replace(op: str) -> None:
    """HasSynced: Add/Update/Delete/AddIfNotPresent before Replace set populated with a count of 0."""
    fifo = DeltaFIFO()
    arg: Any = Deltas([Delta(ADDED, obj("a"))]) if op == "add_if_not_present" else obj("a")
    getattr(fifo, op)(arg)
    assert fifo.has_synced()
    fifo.replace([obj("b")], "1")  # a later replace does not start a new initial population
    assert fifo.has_synced()


# -- pop -----------------------------------------------------------------------------------


async def test_pop_removes_the_item_before_calling_process() -> None:
    """Pop deletes the key from queue and items before it calls process."""
    fifo = DeltaFIFO()
    fifo.add(obj("a"))
    fifo.add(obj("b"))
    seen: list[Any] = []

    def process(deltas: Deltas, initial: bool) -> None:
        seen.append((fifo.get_by_key("ns/a"), fifo.list_keys()))

    popped = await fifo.pop(process)
    assert popped == [Delta(ADDED, obj("a"))]
    assert seen == [(None, ["ns/b"])]


async def test_pop_awaits_a_coroutine_process() -> None:
    """PopProcessFunc, here allowed to be a coroutine function: pop returns after it finished."""
    fifo = DeltaFIFO()
    fifo.add(obj("a"))
    done: list[str] = []

    async def process(deltas: Deltas, initial: bool) -> None:
        await asyncio.sleep(0)
        done.append(fifo.key_of(deltas))

    await fifo.pop(process)
    assert done == ["ns/a"]


@pytest.mark.parametrize("is_async", [False, True])
async def test_pop_does_not_requeue_when_process_fails(is_async: bool) -> None:
    """Pop without ErrRequeue (removed in client-go 1.33): the error reaches the caller, the item is gone."""
    fifo = DeltaFIFO()
    fifo.add(obj("a"))

    def fail(deltas: Deltas, initial: bool) -> None:
        raise RuntimeError("handler failed")

    async def afail(deltas: Deltas, initial: bool) -> None:
        raise RuntimeError("handler failed")

    with pytest.raises(RuntimeError, match="handler failed"):
        await fifo.pop(afail if is_async else fail)
    assert fifo.list_keys() == []
    assert fifo.get_by_key("ns/a") is None


async def test_pop_waits_while_empty_and_wakes_on_add() -> None:
    """Pop blocks on cond.Wait while the queue is empty; queueing an item wakes it."""
    fifo = DeltaFIFO()
    task = asyncio.create_task(fifo.pop(lambda deltas, initial: None))
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert not task.done()
    fifo.add(obj("a"))
    assert await task == [Delta(ADDED, obj("a"))]


async def test_pop_wakes_on_close_and_raises_fifo_closed() -> None:
    """Close broadcasts; a Pop waiting on an empty, closed queue returns ErrFIFOClosed."""
    fifo = DeltaFIFO()
    waiters = [asyncio.create_task(fifo.pop(lambda deltas, initial: None)) for _ in range(2)]
    await asyncio.sleep(0)
    assert not any(w.done() for w in waiters)
    fifo.close()
    assert fifo.is_closed()
    for waiter in waiters:
        with pytest.raises(FIFOClosedError):
            await waiter


async def test_a_closed_queue_still_drains() -> None:
    """Pop checks `closed` only while the queue is empty: queued items are still delivered."""
    fifo = DeltaFIFO()
    fifo.add(obj("a"))
    fifo.close()
    assert await fifo.pop(lambda deltas, initial: None) == [Delta(ADDED, obj("a"))]
    with pytest.raises(FIFOClosedError):
        await fifo.pop(lambda deltas, initial: None)


async def test_two_waiting_pops_take_one_item_each() -> None:
    """Pop: each item goes to exactly one consumer; the other keeps waiting."""
    fifo = DeltaFIFO()
    got: list[str] = []
    waiters = [asyncio.create_task(fifo.pop(lambda d, i: got.append(fifo.key_of(d)))) for _ in range(2)]
    await asyncio.sleep(0)
    fifo.add(obj("a"))
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert got == ["ns/a"] and sum(w.done() for w in waiters) == 1
    fifo.add(obj("b"))
    await asyncio.gather(*waiters)
    assert got == ["ns/a", "ns/b"]


async def test_is_in_initial_list_for_items_of_the_first_replace() -> None:
    """Pop passes isInInitialList = !hasSynced: true for the first Replace's items, false after."""
    fifo = DeltaFIFO()
    fifo.replace([obj("a"), obj("b")], "1")
    fifo.add(obj("c"))
    popped = await pop_all(fifo)
    assert [(fifo.key_of(d), initial) for d, initial in popped] == [("ns/a", True), ("ns/b", True), ("ns/c", False)]


async def test_pop_hands_over_the_deltas_and_add_if_not_present_requeues_them() -> None:
    """AddIfNotPresent: a popped Deltas goes back under its key unless the key was queued again meanwhile."""
    fifo = DeltaFIFO()
    fifo.add(obj("a", "1"))
    first = await fifo.pop(lambda deltas, initial: None)
    fifo.add_if_not_present(first)
    assert queued(fifo) == {"ns/a": [(ADDED, obj("a", "1"))]}
    again = await fifo.pop(lambda deltas, initial: None)
    fifo.update(obj("a", "2"))
    fifo.add_if_not_present(again)
    assert queued(fifo) == {"ns/a": [(UPDATED, obj("a", "2"))]}


def test_add_if_not_present_rejects_empty_deltas() -> None:
    """KeyOf: ErrZeroLengthDeltasObject for a Deltas with no Delta."""
    with pytest.raises(KeyFuncError, match="0 length Deltas"):
        DeltaFIFO().add_if_not_present(Deltas())


# -- reads ---------------------------------------------------------------------------------


def test_get_returns_a_copy_of_the_queued_deltas() -> None:
    """Get/GetByKey copy the Deltas slice so the caller cannot disturb the queue."""
    fifo = DeltaFIFO()
    fifo.add(obj("a"))
    deltas = fifo.get(obj("a", "9"))
    assert deltas == [Delta(ADDED, obj("a"))]
    assert deltas is not None
    deltas.append(Delta(SYNC, obj("a")))
    assert fifo.get_by_key("ns/a") == [Delta(ADDED, obj("a"))]
    assert fifo.get(obj("b")) is None


def test_key_of_deltas_and_tombstones() -> None:
    """KeyOf: a Deltas is keyed by its newest object, a DeletedFinalStateUnknown by its Key."""
    fifo = DeltaFIFO()
    deltas = Deltas([Delta(ADDED, obj("a")), Delta(DELETED, tomb("b", None))])
    assert fifo.key_of(deltas) == "ns/b"
    assert fifo.key_of(tomb("c", obj("x"))) == "ns/c"
    assert deltas.oldest() == Delta(ADDED, obj("a"))
    assert deltas.newest() == Delta(DELETED, tomb("b", None))
    assert Deltas().oldest() is None and Deltas().newest() is None


def test_delta_type_values_are_client_go_strings() -> None:
    assert [t.value for t in DeltaType] == ["Added", "Updated", "Deleted", "Replaced", "Sync"]


async def test_worked_example_of_the_module_docstring() -> None:
    """The queue states drawn in informer/delta_fifo.py's docstring."""
    fifo = DeltaFIFO()
    a1, a2, a3, b1 = obj("a", "1"), obj("a", "2"), obj("a", "3"), obj("b", "1")
    fifo.add(a1)
    fifo.add(b1)
    fifo.update(a2)
    fifo.delete(b1)
    fifo.delete(b1)
    assert queued(fifo) == {"ns/a": [(ADDED, a1), (UPDATED, a2)], "ns/b": [(ADDED, b1), (DELETED, b1)]}
    fifo.replace([a3], "7")
    assert queued(fifo) == {"ns/a": [(ADDED, a1), (UPDATED, a2), (SYNC, a3)], "ns/b": [(ADDED, b1), (DELETED, b1)]}
    seen: list[tuple[Deltas, bool]] = []
    await fifo.pop(lambda deltas, initial: seen.append((deltas, initial)))
    assert seen == [(Deltas([Delta(ADDED, a1), Delta(UPDATED, a2), Delta(SYNC, a3)]), False)]
    assert fifo.list_keys() == ["ns/b"]
