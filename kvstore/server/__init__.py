"""The store on the network: etcd's v3 gRPC API (`kvs serve`)."""

from kvstore.server.server import Server, parse_listen_url

__all__ = ["Server", "parse_listen_url"]
