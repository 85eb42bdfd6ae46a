"""client-go's tools/cache, util/workqueue and tools/leaderelection for asyncio.

Informers talk to a server only through a `ListerWatcher` (informer/listwatch.py);
`ResourceListerWatcher` works over any `apimachinery.client.ResourceClient`, embedded or
remote, so a controller runs unchanged on either. Names follow client-go in snake_case.
"""

from informer.delta_fifo import DeletedFinalStateUnknown, Delta, DeltaFIFO, Deltas, DeltaType
from informer.errors import FIFOClosedError, IndexNotFoundError, InformerError, KeyFuncError
from informer.factory import SharedInformerFactory
from informer.keys import NAMESPACE_INDEX, meta_namespace_index_func, meta_namespace_key_func, split_meta_namespace_key
from informer.leaderelection import (
    LeaderCallbacks,
    LeaderElectionConfig,
    LeaderElectionRecord,
    LeaderElector,
    LeadingContext,
    LeaseLock,
)
from informer.lister import Lister, NamespaceLister
from informer.listwatch import ListerWatcher, ListOptions, ResourceListerWatcher
from informer.processor import ResourceEventHandler, ResourceEventHandlerFuncs
from informer.reflector import Reflector
from informer.shared_informer import SharedIndexInformer
from informer.store import Indexer, Indexers, IndexFunc, Store
from informer.sync import wait_for_cache_sync
from informer.workqueue import (
    BucketRateLimiter,
    DelayingQueue,
    ItemExponentialFailureRateLimiter,
    ItemFastSlowRateLimiter,
    MaxOfRateLimiter,
    Queue,
    RateLimiter,
    RateLimitingQueue,
    default_controller_rate_limiter,
)

__all__ = [
    "NAMESPACE_INDEX",
    "BucketRateLimiter",
    "DelayingQueue",
    "DeletedFinalStateUnknown",
    "Delta",
    "DeltaFIFO",
    "DeltaType",
    "Deltas",
    "FIFOClosedError",
    "IndexFunc",
    "IndexNotFoundError",
    "Indexer",
    "Indexers",
    "InformerError",
    "ItemExponentialFailureRateLimiter",
    "ItemFastSlowRateLimiter",
    "KeyFuncError",
    "LeaderCallbacks",
    "LeaderElectionConfig",
    "LeaderElectionRecord",
    "LeaderElector",
    "LeadingContext",
    "LeaseLock",
    "ListOptions",
    "Lister",
    "ListerWatcher",
    "MaxOfRateLimiter",
    "NamespaceLister",
    "Queue",
    "RateLimiter",
    "RateLimitingQueue",
    "Reflector",
    "ResourceEventHandler",
    "ResourceEventHandlerFuncs",
    "ResourceListerWatcher",
    "SharedIndexInformer",
    "SharedInformerFactory",
    "Store",
    "default_controller_rate_limiter",
    "meta_namespace_index_func",
    "meta_namespace_key_func",
    "split_meta_namespace_key",
    "wait_for_cache_sync",
]
