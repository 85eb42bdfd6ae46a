"""The strategy of custom resources (objects a CRD serves): pruning and schema validation.

An object loses the fields its version's `openAPIV3Schema` does not declare, then is
validated against the schema; `generation` counts changes of everything but metadata
(and status, when status is a subresource), as kube does for custom resources.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from apimachinery import openapi_schema
from apimachinery.errors import FieldError
from kvstore.registry.strategies.default import DefaultStrategy

_NOT_CONTENT = ("metadata", "apiVersion", "kind")
_NOT_CONTENT_WITH_STATUS = (*_NOT_CONTENT, "status")


@dataclass(frozen=True, slots=True)
class CustomResourceStrategy(DefaultStrategy):
    """The rules of one served version of a custom resource."""

    schema: Mapping[str, Any] | None = None
    """The version's `openAPIV3Schema` (None: no schema, only metadata is checked)."""

    def prepare_for_create(self, obj: dict[str, Any], namespace: str) -> dict[str, Any]:
        return self._pruned(DefaultStrategy.prepare_for_create(self, obj, namespace))

    def prepare_for_update(self, new: dict[str, Any], old: dict[str, Any]) -> dict[str, Any]:
        return self._pruned(DefaultStrategy.prepare_for_update(self, new, old))

    def prepare_for_status_update(self, new: dict[str, Any], old: dict[str, Any]) -> dict[str, Any]:
        return self._pruned(DefaultStrategy.prepare_for_status_update(self, new, old))

    def bumps_generation(self, new: dict[str, Any], old: dict[str, Any]) -> bool:
        """Any change but of metadata (and of status, when status is a subresource)."""
        return self._content(new) != self._content(old)

    def validate(self, obj: dict[str, Any]) -> list[FieldError]:
        """Metadata, then every schema error."""
        return DefaultStrategy.validate(self, obj) + self._schema_errors(obj)

    def validate_update(self, new: dict[str, Any], old: dict[str, Any]) -> list[FieldError]:
        return DefaultStrategy.validate_update(self, new, old) + self._schema_errors(new)

    def _pruned(self, obj: dict[str, Any]) -> dict[str, Any]:
        return obj if self.schema is None else openapi_schema.prune(self.schema, obj)

    def _schema_errors(self, obj: dict[str, Any]) -> list[FieldError]:
        return [] if self.schema is None else openapi_schema.validate(self.schema, obj)

    def _content(self, obj: dict[str, Any]) -> dict[str, Any]:
        skip = _NOT_CONTENT_WITH_STATUS if self.info.has_status else _NOT_CONTENT
        return {k: v for k, v in obj.items() if k not in skip}
