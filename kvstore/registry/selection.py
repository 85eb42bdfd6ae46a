"""Label and field selectors of one list or watch request, checked against the resource."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from apimachinery import fields, labels
from apimachinery.kinds import field_labels
from apimachinery.schema import ResourceInfo


@dataclass(frozen=True, slots=True)
class Selection:
    info: ResourceInfo
    label: labels.Selector
    field: fields.FieldSelector

    @classmethod
    def parse(cls, info: ResourceInfo, label_selector: str = "", field_selector: str = "") -> Selection:
        """BadRequest for a selector that does not parse or names a field the kind does not support."""
        label = labels.parse(label_selector or "")
        field = fields.parse_field_selector(field_selector or "")
        field = field_labels.check_selector(info.gvr.group, info.kind, field)
        return cls(info, label, field)

    @property
    def empty(self) -> bool:
        return self.label.empty() and self.field.empty()

    def matches(self, obj: dict[str, Any]) -> bool:
        if not self.label.empty():
            obj_labels = obj.get("metadata", {}).get("labels") or {}
            if not self.label.matches(obj_labels):
                return False
        if not self.field.empty():
            return self.field.matches(field_labels.field_set(self.info.gvr.group, self.info.kind, obj))
        return True
