"""Field selectors, with the syntax and semantics of k8s.io/apimachinery/pkg/fields.

A field selector is an AND of `field=value` / `field==value` / `field!=value` terms over a flat
map of an object's selectable fields (see `apimachinery.kinds.field_labels`). Unlike label
selectors there are no sets, no existence tests and no whitespace trimming: everything after the
operator up to the next unescaped comma is the value. A value may hold `,` `=` or `\\` only
escaped as `\\,` `\\=` `\\\\` (`escape_value` / `unescape_value`). A field missing from the map
reads as "", so `spec.nodeName=` selects unscheduled pods.

    >>> sel = parse_field_selector("status.phase!=Running,spec.nodeName==node-1")
    >>> str(sel)
    'spec.nodeName=node-1,status.phase!=Running'
    >>> sel.matches({"spec.nodeName": "node-1", "status.phase": "Pending"})
    True
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from apimachinery.errors import BadRequestError


class FieldOperator(enum.StrEnum):
    """The two field operators; `==` parses as EQUALS (fields keeps no separate double-equals)."""

    EQUALS = "="
    NOT_EQUALS = "!="


def escape_value(value: str) -> str:
    """fields.EscapeValue: backslash-escape `\\`, `,` and `=` so the value survives parsing."""
    return value.replace("\\", "\\\\").replace(",", "\\,").replace("=", "\\=")


def unescape_value(text: str) -> str:
    """fields.UnescapeValue: undo `escape_value`; a bare `,`/`=` or an unknown escape is an error."""
    if not any(c in text for c in "\\,="):
        return text
    out: list[str] = []
    escaped = False
    for c in text:
        if escaped:
            if c not in "\\,=":
                raise BadRequestError(f"invalid field selector: invalid escape sequence: \\{c}")
            out.append(c)
            escaped = False
        elif c == "\\":
            escaped = True
        elif c in ",=":
            raise BadRequestError(f"invalid field selector: unescaped character in value: {c}")
        else:
            out.append(c)
    if escaped:
        raise BadRequestError("invalid field selector: invalid escape sequence: \\")
    return "".join(out)


@dataclass(frozen=True, slots=True)
class FieldRequirement:
    """One term: the selectable field, `=` or `!=`, and the (unescaped) value."""

    field: str
    operator: FieldOperator
    value: str

    def matches(self, fields: Mapping[str, str]) -> bool:
        equal = fields.get(self.field, "") == self.value
        return equal if self.operator is FieldOperator.EQUALS else not equal

    def __str__(self) -> str:
        return f"{self.field}{self.operator}{escape_value(self.value)}"


@dataclass(frozen=True, slots=True)
class FieldSelector:
    """An AND of terms, kept in canonical order (by their string form) so equal selectors compare equal."""

    requirements: tuple[FieldRequirement, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "requirements", tuple(sorted(self.requirements, key=str)))

    def matches(self, fields: Mapping[str, str]) -> bool:
        return all(r.matches(fields) for r in self.requirements)

    def empty(self) -> bool:
        """True when the selector restricts nothing (fields.Everything())."""
        return not self.requirements

    def requires_exact_match(self, field: str) -> str | None:
        """The value an `=` term demands for `field`, else None (fields.Selector.RequiresExactMatch)."""
        for r in self.requirements:
            if r.field == field and r.operator is FieldOperator.EQUALS:
                return r.value
        return None

    def transform(self, fn: Callable[[str, str], tuple[str, str]]) -> FieldSelector:
        """Rewrite every (field, value) pair, e.g. an old field name to its current one."""
        out = []
        for r in self.requirements:
            field, value = fn(r.field, r.value)
            out.append(FieldRequirement(field, r.operator, value))
        return FieldSelector(tuple(out))

    def __str__(self) -> str:
        return ",".join(str(r) for r in self.requirements)


_EVERYTHING = FieldSelector()


def everything() -> FieldSelector:
    """fields.Everything(): matches every object."""
    return _EVERYTHING


def one_term_equal(field: str, value: str) -> FieldSelector:
    """fields.OneTermEqualSelector: just `field=value`."""
    return FieldSelector((FieldRequirement(field, FieldOperator.EQUALS, value),))


def selector_from_set(fields: Mapping[str, str]) -> FieldSelector:
    """fields.SelectorFromSet: `field=value` for each entry (an empty mapping selects everything)."""
    return FieldSelector(tuple(FieldRequirement(f, FieldOperator.EQUALS, v) for f, v in fields.items()))


def _split_terms(text: str) -> list[str]:
    """Split on commas that are not backslash-escaped; escapes stay in the pieces."""
    terms: list[str] = []
    start = 0
    escaped = False
    for i, c in enumerate(text):
        if escaped:
            escaped = False
        elif c == "\\":
            escaped = True
        elif c == ",":
            terms.append(text[start:i])
            start = i + 1
    terms.append(text[start:])
    return terms


# Tried in this order at each offset, so `==` is not read as `=` followed by a value starting with `=`.
_TERM_OPERATORS = (("!=", FieldOperator.NOT_EQUALS), ("==", FieldOperator.EQUALS), ("=", FieldOperator.EQUALS))


def _split_term(term: str) -> tuple[str, FieldOperator, str] | None:
    """The field, operator and raw value of one term, split at the first operator found."""
    for i in range(len(term)):
        for spelling, op in _TERM_OPERATORS:
            if term.startswith(spelling, i):
                return term[:i], op, term[i + len(spelling) :]
    return None


def parse_field_selector(selector: str) -> FieldSelector:
    """fields.ParseSelector: the selector a `fieldSelector` string describes ("" selects everything).

    Raises BadRequestError for a term without an operator or a value with a bad escape.
    """
    reqs: list[FieldRequirement] = []
    for term in _split_terms(selector):
        if not term:
            continue
        split = _split_term(term)
        if split is None:
            raise BadRequestError(
                f"invalid selector: '{selector}'; can't understand '{term}' (expected <field>=<value>, "
                "<field>==<value> or <field>!=<value>)"
            )
        field, op, raw = split
        try:
            value = unescape_value(raw)
        except BadRequestError as e:
            raise BadRequestError(f"{e.message} (in term '{term}')") from None
        reqs.append(FieldRequirement(field, op, value))
    return FieldSelector(tuple(reqs))


__all__ = [
    "FieldOperator",
    "FieldRequirement",
    "FieldSelector",
    "escape_value",
    "everything",
    "one_term_equal",
    "parse_field_selector",
    "selector_from_set",
    "unescape_value",
]
