"""The network client: `kvstore.connect(endpoint)`, the embedded store's API over etcd's gRPC."""

from kvstore.client.client import Client, connect
from kvstore.client.watch import RemoteWatcher

__all__ = ["Client", "RemoteWatcher", "connect"]
