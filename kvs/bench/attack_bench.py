"""`kvs bench attack`: hostile HTTP/2 clients against `kvs serve` (native and grpcio transports)
and a real etcd, each attack under a well-behaved probe (kvs/bench/attacks.py).

For every attack and server: a fresh server (one per server for the whole suite with
`--quick`), 100 keys written, then the probe (a Put and a Range every 200 ms, 2 s deadline
each) for a few rounds before, during and after the attack, while the server's RSS is sampled
(/proc/<pid>/status). Reported: the probe's p50 and max latency before and during the attack
(during: the rounds that started while it ran, and the first after it), its failures, the
server's RSS before / at its peak / after, and how the attacking connection ended (GOAWAY code
and debug data, RST_STREAM codes, HTTP or gRPC status, or EOF / reset / still open). The
servers run with their default limits: the attacks are sized past them (see README.md).

An attack is a single event, not a rate: each runs once per server (no repetitions). The
figures (probe max latency, RSS growth) have kvs serve native as "ours", etcd as the
reference and grpcio as a further reference; a row is FAILED only when the harness failed
(a server did not start, an attack raised), never for what a server did under attack.
"""

from __future__ import annotations

import contextlib
import functools
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from kvs.bench import attacks, progress
from kvs.bench.attacks import AttackResult, AttackRun
from kvs.bench.common import Config, log
from kvs.bench.report import Extra, Figure
from kvs.bench.servers import ServerError, ServerProcess, etcd_server, etcd_version, find_etcd, kvs_server

SCENARIO = "attack"
SCENARIO_RSS = "attack_rss"
KEYS = b"/bench/attack/keys/"
MB = 1 << 20

TARGETS = ("native", "grpcio", "etcd")
TARGET_NAMES = {"native": "kvs serve", "grpcio": "kvs serve grpcio", "etcd": "etcd"}


@dataclass(frozen=True, slots=True)
class BenchAttack:
    """One attack of the suite, at its full and its --quick size."""

    name: str
    full: Callable[[str], AttackResult]
    quick: Callable[[str], AttackResult]


def _both(name: str, fn: Callable[..., AttackResult], quick: dict[str, object], **full: object) -> BenchAttack:
    return BenchAttack(name, functools.partial(fn, **full), functools.partial(fn, **{**full, **quick}))


ATTACKS: tuple[BenchAttack, ...] = (
    _both("ping flood", attacks.ping_flood, {"frames": 500}, frames=2000),
    _both("ping flood, replies unread", attacks.ping_flood_unread, {"frames": 50_000}, frames=200_000),
    _both("settings flood", attacks.settings_flood, {"frames": 500}, frames=2000),
    *(
        _both(f"empty {kind} frames", attacks.empty_frame_flood, {"frames": 2000}, kind=kind, frames=5000)
        for kind in attacks.EMPTY_FRAME_KINDS
    ),
    _both("continuation flood", attacks.continuation_flood, {"frames": 100}, frames=300),
    _both(
        "window update flood", attacks.window_update_flood, {"streams": 300, "frames": 3000}, streams=900, frames=12_000
    ),
    _both(
        "initial window flip-flop",
        attacks.settings_window_flipflop,
        {"streams": 300, "frames": 3000},
        streams=900,
        frames=12_000,
    ),
    _both("rapid reset", attacks.rapid_reset, {"streams": 1500}, streams=3000),
    _both(
        "varying header blocks",
        attacks.varying_headers,
        {"connections": 4, "requests": 200},
        connections=16,
        requests=600,
    ),
    _both("hpack bomb", attacks.hpack_bomb, {}, refs=12_000),
    _both("header list 20 KiB", attacks.big_header_list, {}, size=20 * 1024),
    _both("header list 100 KiB", attacks.big_header_list, {}, size=100 * 1024),
    _both("1001 concurrent streams", attacks.too_many_streams, {}, streams=1001),
    _both("partial messages", attacks.partial_messages, {"streams": 96}, streams=256),
    _both(
        "big responses never read",
        attacks.unread_responses,
        {"requests": 20, "linger": 1.0},
        requests=100,
        linger=3.0,
        drain=False,
    ),
    _both(
        "big responses read late",
        attacks.unread_responses,
        {"requests": 20, "linger": 1.0},
        requests=100,
        linger=3.0,
        drain=True,
    ),
    _both("many connections", attacks.many_connections, {"silent": 500, "preface": 500, "wait": 0.5}, wait=3.0),
    _both("malformed gRPC framing", attacks.malformed_requests, {"timeout": 1.0}, timeout=2.0),
)


@dataclass(slots=True)
class Outcome:
    """One attack against one server: what the attacker and the probe saw, the RSS; or the problem."""

    attack: str
    target: str
    run: AttackRun | None = None
    problem: str = ""

    @property
    def ok(self) -> bool:
        return self.run is not None and not self.problem


@dataclass(slots=True)
class Server:
    """How to start one target server, and the one running for --quick."""

    target: str
    start: Callable[[], contextlib.AbstractContextManager[ServerProcess]]
    shared: ServerProcess | None = None
    failed: str = ""
    stack: contextlib.ExitStack = field(default_factory=contextlib.ExitStack)


def targets(cfg: Config) -> list[str]:
    """The servers this run attacks: cfg.attack_targets, less etcd when there is none."""
    return [t for t in cfg.attack_targets if t != "etcd" or find_etcd()]


def planned_runs(cfg: Config) -> int:
    if not cfg.wants("grpc"):
        return 0
    return len(ATTACKS) * len(targets(cfg))


def _starter(cfg: Config, target: str) -> Callable[[], contextlib.AbstractContextManager[ServerProcess]]:
    if target == "etcd":
        etcd = find_etcd()
        assert etcd is not None
        version = etcd_version(etcd)
        return lambda: etcd_server(cfg, etcd, version)
    return lambda: kvs_server(cfg, ("--grpc-server", target))


@contextlib.contextmanager
def _server(cfg: Config, server: Server) -> Iterator[ServerProcess]:
    """A fresh server for this attack, or (--quick) the one shared by every attack."""
    if not cfg.quick:
        with server.start() as fresh:
            yield fresh
        return
    if server.shared is None or not server.shared.running:
        server.stack.close()
        server.shared = server.stack.enter_context(server.start())
    yield server.shared


def _one(cfg: Config, attack: BenchAttack, server: Server) -> Outcome:
    outcome = Outcome(attack.name, server.target)
    if server.failed:
        outcome.problem = server.failed
        return outcome
    rounds = 1 if cfg.quick else 2
    try:
        with _server(cfg, server) as proc:
            attacks.put_keys(proc.endpoint, KEYS, 100)
            fn = attack.quick if cfg.quick else attack.full
            outcome.run = attacks.run_attack(
                proc.endpoint, proc.pid, functools.partial(fn, proc.endpoint), before=rounds, after=rounds
            )
            kept = attacks.get_keys(proc.endpoint, KEYS)
            if len(kept) != 100:
                outcome.problem = f"{len(kept)} of the 100 keys left"
    except ServerError as exc:
        server.failed = outcome.problem = f"{TARGET_NAMES[server.target]} did not start: {exc}"
    except Exception as exc:  # the harness broke (or the server died): FAILED, with what happened
        outcome.problem = f"{type(exc).__name__}: {exc} ({traceback.format_exc(limit=2).splitlines()[-2].strip()})"
    return outcome


def _ms(seconds: float) -> str:
    return f"{seconds * 1e3:.1f}" if seconds else "-"


def render_table(outcomes: list[Outcome]) -> list[str]:
    """The suite's own table: per attack and server, probe latency, failures, RSS, and the attacker's end."""
    head = (
        "attack",
        "server",
        "p50 before",
        "p50 during",
        "max during",
        "fails",
        "RSS before",
        "peak",
        "after",
        "attacker's connection",
    )
    rows: list[tuple[str, ...]] = []
    for o in outcomes:
        name = TARGET_NAMES[o.target]
        if o.run is None:
            rows.append((o.attack, name, "", "", "", "", "", "", "", f"FAILED: {o.problem}"))
            continue
        p, r = o.run.probe, o.run
        rows.append(
            (
                o.attack,
                name,
                _ms(p.p50("before")),
                _ms(p.p50("during")),
                _ms(p.max("during")),
                str(len(p.failures())),
                f"{r.rss_before / MB:.0f}",
                f"{r.rss_peak / MB:.0f}",
                f"{r.rss_after / MB:.0f}",
                r.result.summary() + (f"; FAILED: {o.problem}" if o.problem else ""),
            )
        )
    widths = [max(len(row[i]) for row in [head, *rows]) for i in range(len(head) - 1)]

    def line(row: tuple[str, ...]) -> str:
        cells = [c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(row[:-1], widths, strict=True))]
        return "  ".join([*cells, row[-1]])

    return [
        "attacks: probe latency in ms (p50 before, p50 and max during), probe calls failed, server RSS in MB",
        line(head),
        "  ".join("-" * w for w in [*widths, len(head[-1])]),
        *(line(row) for row in rows),
    ]


def _figures(outcomes: list[Outcome]) -> list[Figure]:
    """Per attack: the probe's max latency during it and the server's RSS growth, native
    against etcd (reference) and grpcio (a further one)."""
    by: dict[tuple[str, str], Outcome] = {(o.attack, o.target): o for o in outcomes}
    latency: list[Figure] = []
    rss: list[Figure] = []
    for attack in ATTACKS:
        runs = {t: by[attack.name, t] for t in TARGETS if (attack.name, t) in by}
        ours = runs.get("native")
        if ours is None:
            continue
        failures = [f"{TARGET_NAMES[t]}: {o.problem}" for t, o in runs.items() if o.problem]
        details = [_detail(o) for o in runs.values()]
        values = functools.partial(_values, runs)
        for figs, scenario, label, unit, of in (
            (latency, SCENARIO, "probe max latency during", "ms", lambda r: r.probe.max("during") * 1e3),
            (rss, SCENARIO_RSS, "server RSS growth", "MB", lambda r: r.rss_growth / MB),
        ):
            etcd, grpcio = values("etcd", of), values("grpcio", of)
            figs.append(
                Figure(
                    scenario,
                    f"{attack.name}: {label}",
                    unit,
                    values("native", of) or [0.0],
                    reference=etcd,
                    reference_label="etcd" if etcd else "",
                    failures=failures,
                    details=details,
                    more=[Extra("kvs serve grpcio", grpcio)] if grpcio else [],
                    lower_is_better=True,
                )
            )
    return latency + rss


def _values(runs: dict[str, Outcome], target: str, of: Callable[[AttackRun], float]) -> list[float] | None:
    """`of` the target's run, as a figure's one sample; None if it has none."""
    o = runs.get(target)
    return [of(o.run)] if o is not None and o.run is not None else None


def _detail(o: Outcome) -> dict[str, object]:
    """Everything measured of one attack on one server, for --json."""
    out: dict[str, object] = {"attack": o.attack, "target": TARGET_NAMES[o.target], "problem": o.problem}
    if o.run is None:
        return out
    p, r, res = o.run.probe, o.run, o.run.result
    out.update(
        probe_p50_before_ms=p.p50("before") * 1e3,
        probe_p50_during_ms=p.p50("during") * 1e3,
        probe_max_during_ms=p.max("during") * 1e3,
        probe_max_after_ms=p.max("after") * 1e3,
        probe_calls=len(p.samples),
        probe_failures=[f"{s.phase} {s.op} {s.error} after {s.seconds:.2f}s" for s in p.failures()],
        rss_before=r.rss_before,
        rss_peak=r.rss_peak,
        rss_after=r.rss_after,
        attacker=res.summary(),
        ended=res.ended,
        goaway_code=res.goaway_code,
        goaway_debug=res.goaway_debug,
        rst_codes={attacks.error_name(c): n for c, n in res.rst_codes.items()},
        http_statuses=res.http_statuses,
        grpc_statuses={str(c): n for c, n in res.grpc_statuses.items()},
        still_serving=res.still_serving,
        connections=res.connections,
        frames_sent=res.frames_sent,
        bytes_sent=res.bytes_sent,
        seconds=res.seconds,
        details=res.details,
    )
    return out


def run(cfg: Config) -> tuple[list[Figure], list[str]]:
    if not cfg.wants("grpc"):
        return [], []
    attacks.raise_open_files_limit()  # the many-connections attack; the servers inherit it
    chosen = targets(cfg)
    servers = [Server(t, _starter(cfg, t)) for t in chosen]
    names = ", ".join(TARGET_NAMES[t] for t in chosen)
    log(f"attack: {len(ATTACKS)} attacks against {names} ...")
    bar = progress.current()
    outcomes: list[Outcome] = []
    try:
        for attack in ATTACKS:
            if attack is not ATTACKS[0]:
                log(f"attack: {attack.name} ...")
            for server in servers:
                outcomes.append(_one(cfg, attack, server))
                bar.advance()
    finally:
        for server in servers:
            server.stack.close()
    notes = [
        "attacks: each attack once per server, "
        + ("one server per target for all (--quick)" if cfg.quick else "a fresh server per attack")
        + "; the probe is a grpcio client doing a Put and a Range every 200 ms with a 2 s deadline; "
        "'during' is the probe rounds started while the attack ran and the first one after it; "
        "servers at their default limits",
        *render_table(outcomes),
    ]
    if "etcd" in cfg.attack_targets and "etcd" not in chosen:
        notes.append("attacks: etcd was skipped: no etcd binary on the PATH")
    return _figures(outcomes), notes
