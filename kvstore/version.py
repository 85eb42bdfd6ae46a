"""The package version, reported by `kvs --version` and Maintenance.Status."""

__version__ = "0.1.0"
