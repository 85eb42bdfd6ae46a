"""The benchmark suite: `python -m kvs.bench` or `kvs bench` (see kvs/bench/README.md).

Every figure is the median of several repetitions after one warm-up, printed with its
min and max next to a bare-Python or bare-LMDB reference measured in the same run.
"""
