"""Regenerate the Python modules in kvstore/pb/ from proto/*.proto (`make proto`).

The .proto files are compiled under the virtual path kvstore/pb/, so the generated
modules import each other as `kvstore.pb.<name>_pb2`. Needs grpcio-tools (a dev
dependency); tests/kvstore/pb/test_generated.py fails when the checked-in modules no
longer match the .proto sources.
"""

from __future__ import annotations

import sys
from pathlib import Path

PROTOS = ("kv.proto", "auth.proto", "rpc.proto", "resources.proto")
ROOT = Path(__file__).resolve().parents[1]


def protoc_args(out_dir: Path, *, descriptor_set: Path | None = None) -> list[str]:
    args = ["grpc_tools.protoc", f"-Ikvstore/pb={ROOT / 'proto'}", f"-I{_include_dir()}"]
    if descriptor_set is not None:
        args += [f"--descriptor_set_out={descriptor_set}", "--include_imports"]
    else:
        args += [f"--python_out={out_dir}", f"--grpc_python_out={out_dir}", f"--pyi_out={out_dir}"]
    return args + [f"kvstore/pb/{name}" for name in PROTOS]


def _include_dir() -> str:
    import grpc_tools

    return str(Path(grpc_tools.__file__).parent / "_proto")


def run_protoc(args: list[str]) -> None:
    from grpc_tools import protoc

    code = protoc.main(args)
    if code != 0:
        raise SystemExit(f"protoc failed with exit code {code}")


def main() -> int:
    run_protoc(protoc_args(ROOT))
    pb = ROOT / "kvstore" / "pb"
    for name in PROTOS:
        stem = name.removesuffix(".proto")
        grpc_module = pb / f"{stem}_pb2_grpc.py"
        if grpc_module.exists() and "Servicer" not in grpc_module.read_text():
            grpc_module.unlink()  # no services in this file: nothing worth keeping
    init = pb / "__init__.py"
    if not init.exists():
        init.write_text('"""Modules generated from proto/ by scripts/gen_proto.py. Do not edit."""\n')
    print(f"generated {', '.join(PROTOS)} into {pb.relative_to(ROOT)}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
