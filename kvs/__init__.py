"""The `kvs` command: the one place that wires a store, servers and the benchmark suite together.

kvs run      a tour of the embedded store (kvs/run.py)
kvs serve    one store over etcd's v3 gRPC API and the resource API (kvs/serve.py)
kvs bench    the benchmark suite (kvs/bench/, see kvs/bench/README.md)

It sits above every library package (DESIGN.md's layers); nothing imports it but
`python -m kvs` and the console script.
"""
