"""The process's limit on open files, raised as Go's runtime raises it for every program:
a server holding thousands of connections, and a benchmark opening thousands of sockets,
would otherwise meet a soft limit of 1024."""

from __future__ import annotations

import resource


def raise_open_files_limit() -> int:
    """Raise the soft limit on open files to the hard limit (children inherit it); the soft limit now."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
    if soft != resource.RLIM_INFINITY and soft < want:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
        except (ValueError, OSError):
            return soft
        return want
    return soft
