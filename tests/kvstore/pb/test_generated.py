"""The checked-in modules in kvstore/pb/ match proto/*.proto (regenerate with `make proto`)."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

from google.protobuf import descriptor_pb2

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "scripts"))

import gen_proto  # noqa: E402 - the generator script lives outside the packages


def _strip_json_names(messages: object) -> None:
    """protoc's descriptor sets carry json_name, the generated modules do not."""
    for message in messages:  # type: ignore[attr-defined]
        for f in message.field:
            f.ClearField("json_name")
        _strip_json_names(message.nested_type)


def test_generated_modules_match_the_proto_sources(tmp_path: Path) -> None:
    """Every file descriptor compiled from proto/ equals the one embedded in kvstore/pb/."""
    out = tmp_path / "descriptors.pb"
    gen_proto.run_protoc(gen_proto.protoc_args(tmp_path, descriptor_set=out))
    compiled = descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes())
    ours = {f.name: f for f in compiled.file if f.name.startswith("kvstore/pb/")}
    assert sorted(ours) == sorted(f"kvstore/pb/{p}" for p in gen_proto.PROTOS)
    for name, fresh in ours.items():
        _strip_json_names(fresh.message_type)
        module = importlib.import_module(name.removesuffix(".proto").replace("/", ".") + "_pb2")
        checked_in = descriptor_pb2.FileDescriptorProto.FromString(module.DESCRIPTOR.serialized_pb)
        assert checked_in == fresh, f"kvstore/pb is out of date for {name}: run `make proto`"


def test_the_grpc_module_has_every_service() -> None:
    """The generated servicers cover etcd's six services, with etcd's method names."""
    from kvstore.pb import rpc_pb2, rpc_pb2_grpc

    services = rpc_pb2.DESCRIPTOR.services_by_name
    assert sorted(services) == ["Auth", "Cluster", "KV", "Lease", "Maintenance", "Watch"]
    assert [m.name for m in services["KV"].methods] == ["Range", "Put", "DeleteRange", "Txn", "Compact"]
    for name in services:
        assert hasattr(rpc_pb2_grpc, f"{name}Servicer") and hasattr(rpc_pb2_grpc, f"{name}Stub")
    assert services["Watch"].full_name == "etcdserverpb.Watch"
