"""The benchmark suite: `python -m bench` or `kvs bench` (see bench/README.md).

Every figure is the median of several repetitions after one warm-up, printed with its
min and max next to a bare-Python or bare-LMDB reference measured in the same run.
"""
