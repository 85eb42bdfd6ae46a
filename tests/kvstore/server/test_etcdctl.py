"""Debian's `etcdctl` (API v3) against `kvs serve`: what it prints must be what etcd makes it print.

One `kvs serve` serves the module; each test writes under its own key prefix and reads
revisions relative to its own writes. Tests whose state is global (compaction) get a
server of their own. `-w json` output carries keys and values in base64.

Set KVS_ETCDCTL_SERVER=etcd to run the same tests against a real etcd, which checks the
expectations written here against etcd itself.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.servers import EtcdctlProcess, EtcdServer, KvsServer, etcdctl

pytestmark = pytest.mark.timeout(120)

Server = KvsServer | EtcdServer

COMPACTED = "etcdserver: mvcc: required revision has been compacted"
FUTURE = "etcdserver: mvcc: required revision is a future revision"
LEASE_NOT_FOUND = "etcdserver: requested lease not found"


def _new_server(path: Path) -> Server:
    if os.environ.get("KVS_ETCDCTL_SERVER") == "etcd":
        return EtcdServer(path)
    return KvsServer(path)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with _new_server(tmp_path_factory.mktemp("etcdctl")) as s:
        yield s


@pytest.fixture
def own_server(tmp_path: Path) -> Iterator[Server]:
    """A server of its own, starting empty at revision 1."""
    with _new_server(tmp_path / "server") as s:
        yield s


# ---------------------------------------------------------------- helpers


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def unb64(data: str) -> str:
    return base64.b64decode(data).decode()


def ctl(server: Server, *args: str, input: str | None = None) -> str:
    """Run etcdctl; it must succeed. Its stdout."""
    out = etcdctl(server.endpoint, *args, input=input)
    assert out.returncode == 0, f"etcdctl {' '.join(args)} failed ({out.returncode}):\n{out.stderr}"
    return out.stdout


def ctl_json(server: Server, *args: str, input: str | None = None) -> Any:
    return json.loads(ctl(server, *args, "-w", "json", input=input))


def ctl_fails(server: Server, *args: str) -> subprocess.CompletedProcess[str]:
    out = etcdctl(server.endpoint, *args)
    assert out.returncode != 0, f"etcdctl {' '.join(args)} succeeded:\n{out.stdout}"
    return out


def error_line(out: subprocess.CompletedProcess[str]) -> str:
    """The `Error: ...` line etcdctl prints last on stderr (after the client's JSON log lines)."""
    lines = [line for line in out.stderr.splitlines() if line.startswith("Error:")]
    assert lines, out.stderr
    return lines[-1]


def put(server: Server, key: str, value: str, *args: str) -> int:
    """Put; the revision it created."""
    return int(ctl_json(server, "put", key, value, *args)["header"]["revision"])


def kvs_of(resp: dict[str, Any]) -> list[dict[str, Any]]:
    """A range response's kvs with keys and values decoded."""
    out = []
    for kv in resp.get("kvs", []):
        kv = dict(kv)
        kv["key"] = unb64(kv["key"])
        if "value" in kv:
            kv["value"] = unb64(kv["value"])
        out.append(kv)
    return out


def event_of(ev: dict[str, Any]) -> tuple[str, str, str, int, int, int, tuple[str, str, int] | None]:
    """(type, key, value, create, mod, version, prev (key, value, mod)) of a watch JSON event."""
    kv = ev["kv"]
    prev = ev.get("prev_kv")
    return (
        "DELETE" if ev.get("type", 0) == 1 else "PUT",
        unb64(kv["key"]),
        unb64(kv.get("value", "")),
        kv.get("create_revision", 0),
        kv["mod_revision"],
        kv.get("version", 0),
        None if prev is None else (unb64(prev["key"]), unb64(prev.get("value", "")), prev["mod_revision"]),
    )


def watch_events(w: EtcdctlProcess, n: int) -> list[Any]:
    """The next `n` events a `watch -w json` prints, from however many responses they come in."""
    events: list[Any] = []
    while len(events) < n:
        resp = w.next_json()
        assert not resp["Canceled"], resp
        events.extend(event_of(ev) for ev in resp["Events"])
    assert len(events) == n, events
    return events


# ---------------------------------------------------------------- put / get


def test_put_then_get_json(server: Server) -> None:
    """etcd: a put prints OK and creates the key at a new revision with version 1 and
    create_revision = mod_revision; get -w json shows kvs, count and the store's revision."""
    assert ctl(server, "put", "/get/a", "hello") == "OK\n"
    resp = ctl_json(server, "get", "/get/a")
    rev = resp["header"]["revision"]
    assert kvs_of(resp) == [
        {"key": "/get/a", "value": "hello", "create_revision": rev, "mod_revision": rev, "version": 1}
    ]
    assert resp["count"] == 1
    assert "more" not in resp  # false is omitted
    assert resp["header"]["cluster_id"] and resp["header"]["member_id"]


def test_put_again_bumps_version_and_prev_kv(server: Server) -> None:
    """etcd: overwriting keeps create_revision, sets mod_revision to the new revision and
    increments version; put --prev-kv returns the version it replaced."""
    first = put(server, "/ver/k", "v1")
    resp = ctl_json(server, "put", "/ver/k", "v2", "--prev-kv")
    second = resp["header"]["revision"]
    assert second == first + 1
    assert kvs_of({"kvs": [resp["prev_kv"]]}) == [
        {"key": "/ver/k", "value": "v1", "create_revision": first, "mod_revision": first, "version": 1}
    ]
    got = kvs_of(ctl_json(server, "get", "/ver/k"))
    assert got == [{"key": "/ver/k", "value": "v2", "create_revision": first, "mod_revision": second, "version": 2}]
    assert ctl(server, "put", "/ver/k", "v3", "--prev-kv") == "OK\n/ver/k\nv2\n"


def test_put_ignore_value_and_ignore_lease(server: Server) -> None:
    """etcd: put --ignore-value keeps the value (still a new revision and version; without
    --lease it detaches the lease), put --ignore-lease keeps the lease; both fail on a missing
    key with `key not found`."""
    lease_id, hex_id = _grant(server, 300)
    r1 = put(server, "/ign/k", "v1", f"--lease={hex_id}")
    r2 = int(ctl_json(server, "put", "/ign/k", "--ignore-value")["header"]["revision"])
    [kv] = kvs_of(ctl_json(server, "get", "/ign/k"))
    assert (kv["value"], kv["mod_revision"], kv["version"], kv.get("lease", 0)) == ("v1", r2, 2, 0)
    assert r2 == r1 + 1
    put(server, "/ign/k", "v2", f"--lease={hex_id}")
    put(server, "/ign/k", "v3", "--ignore-lease")
    [kv] = kvs_of(ctl_json(server, "get", "/ign/k"))
    assert (kv["value"], kv["version"], kv["lease"]) == ("v3", 4, lease_id)
    assert error_line(ctl_fails(server, "put", "/ign/missing", "--ignore-value")) == "Error: etcdserver: key not found"
    assert error_line(ctl_fails(server, "put", "/ign/missing", "v", "--ignore-lease")) == (
        "Error: etcdserver: key not found"
    )
    ctl(server, "lease", "revoke", hex_id)


def test_get_serializable(server: Server) -> None:
    """etcd: get --consistency=s (a serializable read) returns the same data on a single member."""
    r = put(server, "/ser/k", "v")
    resp = ctl_json(server, "get", "/ser/k", "--consistency=s")
    assert kvs_of(resp) == [{"key": "/ser/k", "value": "v", "create_revision": r, "mod_revision": r, "version": 1}]
    assert ctl(server, "get", "/ser/k", "--print-value-only") == "v\n"


def test_get_missing_key(server: Server) -> None:
    """etcd: reading a missing key is not an error: no kvs, count 0, and plain output is empty."""
    resp = ctl_json(server, "get", "/missing/nothing-here")
    assert "kvs" not in resp and "count" not in resp
    assert resp["header"]["revision"] >= 1
    assert ctl(server, "get", "/missing/nothing-here") == ""


def test_get_prefix(server: Server) -> None:
    """etcd: get --prefix returns every key starting with the prefix, in key order, and nothing else."""
    for key in ("/pre/b", "/pre/a", "/pre/c/d", "/prf", "/pre"):
        put(server, key, key.upper())
    resp = ctl_json(server, "get", "/pre/", "--prefix")
    assert [kv["key"] for kv in kvs_of(resp)] == ["/pre/a", "/pre/b", "/pre/c/d"]
    assert [kv["value"] for kv in kvs_of(resp)] == ["/PRE/A", "/PRE/B", "/PRE/C/D"]
    assert resp["count"] == 3
    assert ctl(server, "get", "/pre/", "--prefix") == "/pre/a\n/PRE/A\n/pre/b\n/PRE/B\n/pre/c/d\n/PRE/C/D\n"


def test_get_at_revision(server: Server) -> None:
    """etcd: get --rev N reads the key as it was at revision N, while the header carries the
    current revision; a key created after N is absent at N."""
    r1 = put(server, "/rev/k", "old")
    r2 = put(server, "/rev/k", "new")
    r3 = put(server, "/rev/later", "x")
    old = ctl_json(server, "get", "/rev/", "--prefix", f"--rev={r1}")
    assert kvs_of(old) == [{"key": "/rev/k", "value": "old", "create_revision": r1, "mod_revision": r1, "version": 1}]
    assert old["header"]["revision"] >= r3
    at2 = kvs_of(ctl_json(server, "get", "/rev/", "--prefix", f"--rev={r2}"))
    assert [(kv["key"], kv["value"], kv["version"]) for kv in at2] == [("/rev/k", "new", 2)]
    assert len(kvs_of(ctl_json(server, "get", "/rev/", "--prefix", f"--rev={r3}"))) == 2


def test_get_future_revision_fails(server: Server) -> None:
    """etcd: reading above the current revision fails with `required revision is a future revision`."""
    rev = put(server, "/future/k", "v")
    out = ctl_fails(server, "get", "/future/k", f"--rev={rev + 1000}")
    assert error_line(out) == f"Error: {FUTURE}"


def test_get_limit(server: Server) -> None:
    """etcd: get --limit returns the first N keys, count is the number of keys in the range
    and more says there are keys beyond the limit."""
    for i in range(5):
        put(server, f"/lim/{i}", str(i))
    resp = ctl_json(server, "get", "/lim/", "--prefix", "--limit=2")
    assert [kv["key"] for kv in kvs_of(resp)] == ["/lim/0", "/lim/1"]
    assert resp["count"] == 5 and resp["more"] is True
    whole = ctl_json(server, "get", "/lim/", "--prefix", "--limit=5")
    assert len(whole["kvs"]) == 5 and whole["count"] == 5 and "more" not in whole


def test_get_keys_only(server: Server) -> None:
    """etcd: get --keys-only returns the keys with their revisions and versions but no values."""
    r = put(server, "/ko/a", "secret")
    put(server, "/ko/a", "secret2")
    resp = ctl_json(server, "get", "/ko/", "--prefix", "--keys-only")
    assert resp["kvs"] == [{"key": b64("/ko/a"), "create_revision": r, "mod_revision": r + 1, "version": 2}]
    assert ctl(server, "get", "/ko/", "--prefix", "--keys-only") == "/ko/a\n\n"


def test_get_sorted(server: Server) -> None:
    """etcd: --order and --sort-by sort the whole range by the target (here modification
    revision, descending, and value, ascending)."""
    put(server, "/sort/b", "1")
    put(server, "/sort/a", "3")
    put(server, "/sort/c", "2")
    by_mod = kvs_of(ctl_json(server, "get", "/sort/", "--prefix", "--order=DESCEND", "--sort-by=MODIFY"))
    assert [kv["key"] for kv in by_mod] == ["/sort/c", "/sort/a", "/sort/b"]
    by_value = kvs_of(ctl_json(server, "get", "/sort/", "--prefix", "--order=ASCEND", "--sort-by=VALUE"))
    assert [kv["key"] for kv in by_value] == ["/sort/b", "/sort/c", "/sort/a"]
    limited = ctl_json(server, "get", "/sort/", "--prefix", "--order=DESCEND", "--sort-by=KEY", "--limit=1")
    assert [kv["key"] for kv in kvs_of(limited)] == ["/sort/c"]
    assert limited["count"] == 3 and limited["more"] is True


def test_get_from_key(server: Server) -> None:
    """etcd: get --from-key K [END] reads every key >= K (up to END when given)."""
    for key in ("/fk/a", "/fk/b", "/fk/c"):
        put(server, key, "v")
    resp = ctl_json(server, "get", "/fk/b", "/fk/z")
    assert [kv["key"] for kv in kvs_of(resp)] == ["/fk/b", "/fk/c"]
    keys = [kv["key"] for kv in kvs_of(ctl_json(server, "get", "/fk/b", "--from-key", "--keys-only"))]
    assert keys[:2] == ["/fk/b", "/fk/c"] and "/fk/a" not in keys


# ---------------------------------------------------------------- del


def test_del_key(server: Server) -> None:
    """etcd: del prints the number of deleted keys (0 for a missing key); a key put again
    after a delete starts a new generation at version 1."""
    put(server, "/del1/k", "v")
    put(server, "/del1/k", "v2")
    assert ctl(server, "del", "/del1/k") == "1\n"
    assert ctl(server, "del", "/del1/k") == "0\n"
    assert "kvs" not in ctl_json(server, "get", "/del1/k")
    r = put(server, "/del1/k", "again")
    got = kvs_of(ctl_json(server, "get", "/del1/k"))
    assert got == [{"key": "/del1/k", "value": "again", "create_revision": r, "mod_revision": r, "version": 1}]


def test_del_prefix(server: Server) -> None:
    """etcd: del --prefix deletes every key under the prefix in one revision and says how many."""
    for key in ("/delp/a", "/delp/b", "/delp/c", "/delq"):
        put(server, key, "v")
    before = put(server, "/delp-marker", "m")
    resp = ctl_json(server, "del", "/delp/", "--prefix")
    assert resp["deleted"] == 3
    assert resp["header"]["revision"] == before + 1
    assert "kvs" not in ctl_json(server, "get", "/delp/", "--prefix")
    assert len(ctl_json(server, "get", "/delq")["kvs"]) == 1


def test_del_prev_kv(server: Server) -> None:
    """etcd: del --prev-kv returns the deleted keys' last versions; plain output prints the
    count, then each key and value."""
    ra = put(server, "/delpk/a", "1")
    rb = put(server, "/delpk/b", "2")
    resp = ctl_json(server, "del", "/delpk/", "--prefix", "--prev-kv")
    assert resp["deleted"] == 2
    assert kvs_of({"kvs": resp["prev_kvs"]}) == [
        {"key": "/delpk/a", "value": "1", "create_revision": ra, "mod_revision": ra, "version": 1},
        {"key": "/delpk/b", "value": "2", "create_revision": rb, "mod_revision": rb, "version": 1},
    ]
    put(server, "/delpk/c", "3")
    assert ctl(server, "del", "/delpk/c", "--prev-kv") == "1\n/delpk/c\n3\n"


# ---------------------------------------------------------------- txn


def test_txn_success_branch(server: Server) -> None:
    """etcd: txn reads compares, success ops and failure ops from stdin (blank-line separated);
    when every compare holds, the success ops run in one revision and a get inside the txn
    sees the txn's earlier put."""
    r = put(server, "/txn1/flag", "on")
    script = (
        'value("/txn1/flag") = "on"\n'
        f'mod("/txn1/flag") = "{r}"\n'
        'version("/txn1/flag") > "0"\n'
        f'create("/txn1/flag") < "{r + 1}"\n'
        "\n"
        "put /txn1/out yes\n"
        "get /txn1/out\n"
        "\n"
        "put /txn1/out no\n"
        "\n"
    )
    resp = ctl_json(server, "txn", input=script)
    assert resp["succeeded"] is True
    assert resp["header"]["revision"] == r + 1
    put_resp, get_resp = (op["Response"] for op in resp["responses"])
    assert put_resp["ResponsePut"]["header"]["revision"] == r + 1
    got = kvs_of(get_resp["ResponseRange"])
    assert got == [{"key": "/txn1/out", "value": "yes", "create_revision": r + 1, "mod_revision": r + 1, "version": 1}]
    assert ctl(server, "txn", input=script) == "SUCCESS\n\nOK\n\n/txn1/out\nyes\n"


def test_txn_failure_branch(server: Server) -> None:
    """etcd: when a compare fails, the failure ops run instead (plain output FAILURE); a compare
    on a missing key sees version 0 and a value compare on it is false."""
    put(server, "/txn2/flag", "off")
    script = (
        'value("/txn2/flag") = "on"\n\nput /txn2/out yes\n\nput /txn2/out no\ndel /txn2/flag\nget /txn2/ --prefix\n\n'
    )
    assert ctl(server, "txn", input=script) == "FAILURE\n\nOK\n\n1\n\n/txn2/out\nno\n"
    missing = 'version("/txn2/flag") = "0"\nvalue("/txn2/flag") = ""\n\nput /txn2/s s\n\nput /txn2/f f\n\n'
    resp = ctl_json(server, "txn", input=missing)
    assert "succeeded" not in resp  # false is omitted
    assert [kv["key"] for kv in kvs_of(ctl_json(server, "get", "/txn2/", "--prefix"))] == ["/txn2/f", "/txn2/out"]


def test_txn_read_only_branch_makes_no_revision(server: Server) -> None:
    """etcd: a txn whose chosen branch only reads does not create a revision."""
    r = put(server, "/txn3/k", "v")
    resp = ctl_json(server, "txn", input='value("/txn3/k") = "v"\n\nget /txn3/k\n\n\n')
    assert resp["succeeded"] is True and resp["header"]["revision"] == r


# ---------------------------------------------------------------- watch


def test_watch_prefix_from_revision(server: Server) -> None:
    """etcd: watch --prefix --rev N replays every event under the prefix from revision N
    (PUTs and DELETEs, each DELETE carrying only key and mod_revision), then streams new ones."""
    r1 = put(server, "/wp/a", "1")
    put(server, "/wpx", "outside")
    r2 = put(server, "/wp/a", "2")
    r3 = int(ctl_json(server, "del", "/wp/a")["header"]["revision"])
    with EtcdctlProcess(server.endpoint, "watch", "/wp/", "--prefix", f"--rev={r1}", "-w", "json") as w:
        replayed = watch_events(w, 3)
        r4 = put(server, "/wp/b", "3")
        put(server, "/wpy", "outside")
        r5 = put(server, "/wp/b", "4")
        live = watch_events(w, 2)
    assert replayed == [
        ("PUT", "/wp/a", "1", r1, r1, 1, None),
        ("PUT", "/wp/a", "2", r1, r2, 2, None),
        ("DELETE", "/wp/a", "", 0, r3, 0, None),
    ]
    assert live == [("PUT", "/wp/b", "3", r4, r4, 1, None), ("PUT", "/wp/b", "4", r4, r5, 2, None)]


def test_watch_prev_kv(server: Server) -> None:
    """etcd: watch --prev-kv adds the previous version to each event (none on creation);
    plain output prints type, previous key and value, then key and value."""
    r1 = put(server, "/wpk/k", "1")
    r2 = put(server, "/wpk/k", "2")
    with EtcdctlProcess(server.endpoint, "watch", "/wpk/k", f"--rev={r1}", "--prev-kv", "-w", "json") as w:
        events = watch_events(w, 2)
        r3 = int(ctl_json(server, "del", "/wpk/k")["header"]["revision"])
        events += watch_events(w, 1)
    assert events == [
        ("PUT", "/wpk/k", "1", r1, r1, 1, None),
        ("PUT", "/wpk/k", "2", r1, r2, 2, ("/wpk/k", "1", r1)),
        ("DELETE", "/wpk/k", "", 0, r3, 0, ("/wpk/k", "2", r2)),
    ]
    with EtcdctlProcess(server.endpoint, "watch", "/wpk/k", f"--rev={r2}", "--prev-kv") as w:
        lines = [w.next_line() for _ in range(10)]
    assert lines == ["PUT", "/wpk/k", "1", "/wpk/k", "2", "DELETE", "/wpk/k", "2", "/wpk/k", ""]


def test_watch_from_now_skips_history(server: Server) -> None:
    """etcd: a watch without --rev starts at the next write: earlier writes are not replayed."""
    put(server, "/wn/before", "old")
    with EtcdctlProcess(server.endpoint, "watch", "/wn/", "--prefix") as w:
        # No output says when the watch exists; write a marker until the watch shows one.
        # Every line seen is then for a marker written after the watch was created.
        n = 0
        while True:
            n += 1
            put(server, "/wn/marker", str(n))
            try:
                first = w.next_line(timeout=0.5)
                break
            except TimeoutError:
                assert n < 60, "the watch never showed a marker"
        assert first == "PUT"
        assert w.next_line() == "/wn/marker"
        seen = int(w.next_line())
        put(server, "/wn/after", "new")
        lines: list[str] = []
        while lines[-2:] != ["/wn/after", "new"]:
            lines.append(w.next_line())
    assert "/wn/before" not in lines and "old" not in lines
    # Markers written after the first one seen may follow; then the new key.
    assert lines[-3:] == ["PUT", "/wn/after", "new"]
    assert lines[:-3] == [x for m in range(seen + 1, n + 1) for x in ("PUT", "/wn/marker", str(m))]


# ---------------------------------------------------------------- compaction


def test_compaction_and_reads_below_it(own_server: Server) -> None:
    """etcd: compaction N prints `compacted revision N`; reads below N fail with `required
    revision has been compacted` (non-zero exit), reads at N still work, and compacting at or
    below N again fails the same way."""
    s = own_server
    r1 = put(s, "/c/k", "1")
    r2 = put(s, "/c/k", "2")
    put(s, "/c/k", "3")
    assert ctl(s, "compaction", "--physical", str(r2)) == f"compacted revision {r2}\n"
    out = ctl_fails(s, "get", "/c/k", f"--rev={r1}")
    assert error_line(out) == f"Error: {COMPACTED}"
    assert "OutOfRange" in out.stderr
    at = kvs_of(ctl_json(s, "get", "/c/k", f"--rev={r2}"))
    assert [(kv["value"], kv["mod_revision"], kv["version"]) for kv in at] == [("2", r2, 2)]
    assert error_line(ctl_fails(s, "compaction", str(r2))) == f"Error: {COMPACTED}"
    assert error_line(ctl_fails(s, "compaction", str(r1))) == f"Error: {COMPACTED}"
    assert error_line(ctl_fails(s, "compaction", "100")) == f"Error: {FUTURE}"


def test_watch_below_compaction_is_canceled(own_server: Server) -> None:
    """etcd: a watch from a compacted revision is canceled with the compact revision; etcdctl
    prints the cancel response, reports `required revision has been compacted` and exits non-zero."""
    s = own_server
    r1 = put(s, "/cw/k", "1")
    r2 = put(s, "/cw/k", "2")
    ctl(s, "compaction", str(r2))
    with EtcdctlProcess(s.endpoint, "watch", "/cw/", "--prefix", f"--rev={r1}", "-w", "json") as w:
        resp = w.next_json()
        assert w.proc.wait(30) != 0
        stderr = w.stderr.text()
    assert resp["Canceled"] is True and resp["CompactRevision"] == r2 and resp["Events"] == []
    assert COMPACTED in stderr


# ---------------------------------------------------------------- leases


def _grant(server: Server, ttl: int) -> tuple[int, str]:
    resp = ctl_json(server, "lease", "grant", str(ttl))
    assert resp["TTL"] == ttl and resp["ID"] > 0 and resp["Error"] == ""
    return resp["ID"], f"{resp['ID']:016x}"  # etcdctl prints IDs as 16 hex digits


def test_lease_grant_and_revoke_deletes_keys(server: Server) -> None:
    """etcd: lease grant prints the new lease's hex ID and TTL; keys put with --lease carry it;
    lease revoke deletes them all in one revision."""
    out = ctl(server, "lease", "grant", "100")
    assert out.startswith("lease ") and out.endswith(" granted with TTL(100s)\n")
    lease_id, hex_id = _grant(server, 300)
    put(server, "/lease1/a", "1", f"--lease={hex_id}")
    put(server, "/lease1/b", "2", f"--lease={hex_id}")
    before = put(server, "/lease1/keep", "3")
    kvs = ctl_json(server, "get", "/lease1/", "--prefix")["kvs"]
    assert [kv.get("lease", 0) for kv in kvs] == [lease_id, lease_id, 0]
    assert ctl(server, "lease", "revoke", hex_id) == f"lease {hex_id} revoked\n"
    after = int(ctl_json(server, "get", "/lease1/keep")["header"]["revision"])
    assert after == before + 1
    assert [kv["key"] for kv in kvs_of(ctl_json(server, "get", "/lease1/", "--prefix"))] == ["/lease1/keep"]
    with EtcdctlProcess(server.endpoint, "watch", "/lease1/", "--prefix", f"--rev={after}", "-w", "json") as w:
        events = watch_events(w, 2)
    assert events == [("DELETE", "/lease1/a", "", 0, after, 0, None), ("DELETE", "/lease1/b", "", 0, after, 0, None)]


def test_lease_timetolive_with_keys(server: Server) -> None:
    """etcd: lease timetolive --keys reports the remaining and granted TTL and the attached keys."""
    lease_id, hex_id = _grant(server, 100)
    put(server, "/lease2/a", "1", f"--lease={hex_id}")
    put(server, "/lease2/b", "2", f"--lease={hex_id}")
    resp = ctl_json(server, "lease", "timetolive", hex_id, "--keys")
    assert resp["id"] == lease_id and resp["granted-ttl"] == 100 and 90 <= resp["ttl"] <= 100
    assert sorted(unb64(k) for k in resp["keys"]) == ["/lease2/a", "/lease2/b"]
    out = ctl(server, "lease", "timetolive", hex_id, "--keys")
    assert out.startswith(f"lease {hex_id} granted with TTL(100s), remaining(")
    assert out.endswith("s), attached keys([/lease2/a /lease2/b])\n")
    ctl(server, "lease", "revoke", hex_id)


def test_lease_keep_alive_once(server: Server) -> None:
    """etcd: lease keep-alive --once renews the lease once and prints its full TTL."""
    lease_id, hex_id = _grant(server, 60)
    assert ctl(server, "lease", "keep-alive", "--once", hex_id) == f"lease {hex_id} keepalived with TTL(60)\n"
    resp = ctl_json(server, "lease", "keep-alive", "--once", hex_id)
    assert resp["ID"] == lease_id and resp["TTL"] == 60
    ctl(server, "lease", "revoke", hex_id)


def test_lease_gone_after_revoke(server: Server) -> None:
    """etcd: after a revoke, timetolive says `already expired` (TTL -1), keep-alive --once and
    a second revoke fail with `requested lease not found`, and so does put --lease."""
    lease_id, hex_id = _grant(server, 60)
    ctl(server, "lease", "revoke", hex_id)
    assert ctl(server, "lease", "timetolive", hex_id) == f"lease {hex_id} already expired\n"
    resp = ctl_json(server, "lease", "timetolive", hex_id)
    assert resp["id"] == lease_id and resp["ttl"] == -1 and resp["granted-ttl"] == 0
    assert error_line(ctl_fails(server, "lease", "keep-alive", "--once", hex_id)) == f"Error: {LEASE_NOT_FOUND}"
    out = ctl_fails(server, "lease", "revoke", hex_id)
    assert error_line(out) == f"Error: failed to revoke lease ({LEASE_NOT_FOUND})"
    assert error_line(ctl_fails(server, "put", "/lease3/k", "v", f"--lease={hex_id}")) == f"Error: {LEASE_NOT_FOUND}"
    assert "kvs" not in ctl_json(server, "get", "/lease3/k")


def test_lease_list(server: Server) -> None:
    """etcd: lease list shows every live lease's hex ID."""
    _, hex_id = _grant(server, 60)
    out = ctl(server, "lease", "list")
    assert out.startswith("found ") and f"\n{hex_id}\n" in out
    ctl(server, "lease", "revoke", hex_id)
    assert f"\n{hex_id}\n" not in ctl(server, "lease", "list")


# ---------------------------------------------------------------- cluster and maintenance


def test_endpoint_status_json(server: Server) -> None:
    """etcd: endpoint status -w json reports, per endpoint, the header at the current revision,
    the server version, the database size, and this member as the leader."""
    rev = put(server, "/status/k", "v")
    [entry] = ctl_json(server, "endpoint", "status")
    assert entry["Endpoint"] == server.endpoint
    status = entry["Status"]
    assert status["header"]["revision"] == rev
    assert status["leader"] == status["header"]["member_id"] != 0
    assert status["version"] and status["dbSize"] > 0
    assert status.get("isLearner", False) is False


def test_endpoint_health(server: Server) -> None:
    """etcd: endpoint health reports the endpoint healthy (a linearizable get succeeds); the
    simple output goes to stderr, -w json to stdout."""
    out = etcdctl(server.endpoint, "endpoint", "health")
    assert out.returncode == 0, out.stderr
    assert out.stderr.startswith(f"{server.endpoint} is healthy: successfully committed proposal: took = ")
    [entry] = ctl_json(server, "endpoint", "health")
    assert entry["endpoint"] == server.endpoint and entry["health"] is True and "error" not in entry


def test_member_list_json(server: Server) -> None:
    """etcd: member list -w json lists the single member, named `default`, with the ID the
    headers carry and the client URL it serves on."""
    resp = ctl_json(server, "member", "list")
    [member] = resp["members"]
    assert member["ID"] == resp["header"]["member_id"] != 0
    assert member["name"] == "default"
    assert member["clientURLs"] == [server.url]
    assert resp["header"]["cluster_id"] != 0
    plain = ctl(server, "member", "list")
    assert plain.startswith(f"{member['ID']:x}, started, default, ") and server.url in plain


def test_defrag_and_alarm_list(server: Server) -> None:
    """etcd: defrag reports the member defragmented; alarm list prints nothing when no alarm is raised."""
    assert ctl(server, "defrag") == f"Finished defragmenting etcd member[{server.endpoint}]\n"
    assert ctl(server, "alarm", "list") == ""


def test_restart_keeps_data_and_identity(own_server: Server) -> None:
    """etcd: a member restarted on its data directory serves the same keys at the same
    revision, with the same member and cluster IDs."""
    s = own_server
    r = put(s, "/restart/k", "v")
    before = ctl_json(s, "get", "/restart/k")
    endpoint = s.endpoint
    s.restart()
    assert s.endpoint == endpoint
    after = ctl_json(s, "get", "/restart/k")
    assert kvs_of(after) == kvs_of(before) and after["header"]["revision"] == r
    for field in ("cluster_id", "member_id"):
        assert after["header"][field] == before["header"][field]
    assert put(s, "/restart/k", "v2") == r + 1


def test_snapshot_save(server: Server, tmp_path: Path) -> None:
    """etcd: snapshot save streams the database to a file (checked against the trailing
    SHA-256) and says where it saved it."""
    put(server, "/snap/k", "v")
    target = tmp_path / "snap.db"
    out = etcdctl(server.endpoint, "snapshot", "save", str(target))
    assert out.returncode == 0, out.stderr
    assert f"Snapshot saved at {target}" in out.stdout
    assert target.stat().st_size > 0
    assert not (tmp_path / "snap.db.part").exists()
