"""Leader election over coordination.k8s.io/v1 Lease objects (client-go tools/leaderelection).

Candidates for one lease each run a `LeaderElector` on a `LeaseLock` naming the same
Lease and their own identity; at most one of them leads at a time.

    lock = LeaseLock(client, "kube-system", "kube-controller-manager", identity="host-a")
    config = LeaderElectionConfig(lock, callbacks=LeaderCallbacks(start_controllers, exit_process))
    await LeaderElector(config).run()       # returns when leadership is lost; cancel to stop

What a held lease means: the Lease's `holderIdentity` names the leader, and the lease
is valid for `leaseDurationSeconds` after each candidate *itself* last saw the record
change, on its own clock. Only the holder writes a valid lease (to renew it, keeping
`acquireTime` and `leaseTransitions`, or to release it); any candidate may write an
expired or released one (to take it, counting one more `leaseTransitions`). Every
write is a compare-and-swap on the resourceVersion the writer read, so when several
candidates race, one wins and the others see a conflict.

The leader runs its guarded code between `on_started_leading(ctx)` and
`ctx.stopped`; it stops before anyone else can take over as long as clocks run at
the same rate (config.py has the arithmetic).

Modules: `resource_lock` (the record and the Lease it lives in), `config` (timings,
validation, callbacks), `elector` (the loop), `clock` (real and fake time).
"""

from informer.leaderelection.clock import Clock, FakeClock, RealClock
from informer.leaderelection.config import JITTER_FACTOR, LeaderCallbacks, LeaderElectionConfig, LeadingContext
from informer.leaderelection.elector import LeaderElector
from informer.leaderelection.resource_lock import (
    LEASES,
    LeaderElectionRecord,
    LeaseLock,
    LockNotInitializedError,
    ResourceLock,
    format_micro_time,
    parse_micro_time,
)

__all__ = [
    "JITTER_FACTOR",
    "LEASES",
    "Clock",
    "FakeClock",
    "LeaderCallbacks",
    "LeaderElectionConfig",
    "LeaderElectionRecord",
    "LeaderElector",
    "LeadingContext",
    "LeaseLock",
    "LockNotInitializedError",
    "RealClock",
    "ResourceLock",
    "format_micro_time",
    "parse_micro_time",
]
