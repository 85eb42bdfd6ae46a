"""Object helpers the strategies share: deep copies, timestamps, generated names, generation."""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from apimachinery import meta

_NAME_CHARS = "bcdfghjklmnpqrstvwxz2456789"  # no vowels, no look-alikes, as kube's name generator


def copy_object(obj: Mapping[str, Any]) -> dict[str, Any]:
    """A deep copy sharing nothing with `obj` (the store's copy must never be mutated)."""
    out: dict[str, Any] = meta.deep_copy(dict(obj))
    return out


def now_rfc3339() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def generate_name(base: str) -> str:
    """`generateName` plus five random characters; the base is cut so the name fits in 63."""
    return base[:58] + "".join(secrets.choice(_NAME_CHARS) for _ in range(5))


def bump_generation(new: dict[str, Any], old: dict[str, Any], *, changed: bool) -> None:
    """`metadata.generation` of `new`: the old one, plus one when `changed`."""
    old_gen = int(old.get("metadata", {}).get("generation", 1) or 1)
    new_md = new.setdefault("metadata", {})
    new_md["generation"] = old_gen + 1 if changed else old_gen
    # A change of the deletion state (set by delete only) never bumps generation here.
