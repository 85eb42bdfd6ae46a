"""Field selectors against k8s.io/apimachinery/pkg/fields (selector.go)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from apimachinery import fields
from apimachinery.errors import BadRequestError
from apimachinery.fields import FieldOperator, FieldRequirement, FieldSelector, parse_field_selector

PARSE_CASES = [
    # (selector, canonical string, requirements as (field, op, value))
    ("a=b", "a=b", [("a", "=", "b")]),
    ("a==b", "a=b", [("a", "=", "b")]),  # == is the same term as =
    ("a!=b", "a!=b", [("a", "!=", "b")]),
    ("b=2,a=1", "a=1,b=2", [("a", "=", "1"), ("b", "=", "2")]),
    ("a=", "a=", [("a", "=", "")]),
    ("a=b,,c=d", "a=b,c=d", [("a", "=", "b"), ("c", "=", "d")]),  # empty terms are skipped
    ("", "", []),
    (r"a=x\,y", r"a=x\,y", [("a", "=", "x,y")]),
    (r"a=x\=y", r"a=x\=y", [("a", "=", "x=y")]),
    (r"a=x\\y", r"a=x\\y", [("a", "=", "x\\y")]),
    ("a!!=b", "a!!=b", [("a!", "!=", "b")]),  # the field is everything before the first operator
    ("=b", "=b", [("", "=", "b")]),  # an empty field parses; the kind's field list rejects it
    (" a = b ", " a = b ", [(" a ", "=", " b ")]),  # no whitespace trimming
]


@pytest.mark.parametrize(("text", "canonical", "terms"), PARSE_CASES)
def test_parse_like_fields_parse_selector(text: str, canonical: str, terms: list[tuple[str, str, str]]) -> None:
    """fields.ParseSelector: =, == and != terms, comma-separated, escapes undone, printed with String()."""
    sel = parse_field_selector(text)
    assert [(r.field, str(r.operator), r.value) for r in sel.requirements] == terms
    assert str(sel) == canonical


MATCH_CASES = [
    ("a=b", {"a": "b"}, True),
    ("a=b", {"a": "c"}, False),
    ("a=b", {}, False),
    ("a==b", {"a": "b"}, True),
    ("a!=b", {"a": "c"}, True),
    ("a!=b", {"a": "b"}, False),
    ("a!=b", {}, True),
    ("a=", {}, True),  # a missing field reads as ""
    ("a!=", {}, False),
    ("a=1,b=2", {"a": "1", "b": "2"}, True),  # comma is AND
    ("a=1,b=2", {"a": "1", "b": "3"}, False),
    (r"a=x\,y", {"a": "x,y"}, True),
    ("", {"a": "b"}, True),
]


@pytest.mark.parametrize(("text", "field_set", "want"), MATCH_CASES)
def test_matches_like_fields_selector_matches(text: str, field_set: dict[str, str], want: bool) -> None:
    """hasTerm / notHasTerm / andTerm Matches: a missing field compares as the empty string."""
    assert parse_field_selector(text).matches(field_set) is want


ERROR_CASES = [
    ("a", ["invalid selector: 'a'; can't understand 'a'"]),
    ("a=b,c", ["can't understand 'c'"]),
    ("a<b", ["can't understand 'a<b'"]),  # fields have no set or order operators
    ("a in (b)", ["can't understand 'a in (b)'"]),
    ("a=b=c", ["unescaped character in value: =", "'a=b=c'"]),
    ("a===b", ["unescaped character in value: ="]),
    (r"a=b\x", [r"invalid escape sequence: \x"]),
    ("a=b\\", ["invalid escape sequence: \\"]),  # a trailing lone backslash
]


@pytest.mark.parametrize(("text", "fragments"), ERROR_CASES)
def test_parse_errors_like_fields_parse_selector(text: str, fragments: list[str]) -> None:
    """ParseSelector rejects terms without an operator and values with bad escapes (400 BadRequest)."""
    with pytest.raises(BadRequestError) as info:
        parse_field_selector(text)
    assert info.value.code == 400
    for fragment in fragments:
        assert fragment in info.value.message


ESCAPES = [
    ("", ""),
    ("plain", "plain"),
    ("a,b", r"a\,b"),
    ("a=b", r"a\=b"),
    ("a\\b", r"a\\b"),
    ("\\,=", r"\\\,\="),
]


@pytest.mark.parametrize(("raw", "escaped"), ESCAPES)
def test_escape_value_like_fields_escape_value(raw: str, escaped: str) -> None:
    """EscapeValue escapes \\ , and =; UnescapeValue undoes it."""
    assert fields.escape_value(raw) == escaped
    assert fields.unescape_value(escaped) == raw


@given(st.text(alphabet=st.sampled_from("ab\\,=! ."), max_size=12))
def test_escaped_values_round_trip(value: str) -> None:
    """UnescapeValue(EscapeValue(v)) == v for any v, and a term with it parses back to v."""
    assert fields.unescape_value(fields.escape_value(value)) == value
    sel = fields.one_term_equal("spec.nodeName", value)
    assert parse_field_selector(str(sel)) == sel


_field_name = st.text(alphabet="abc.xyz", min_size=1, max_size=8)
_term = st.builds(
    FieldRequirement, _field_name, st.sampled_from(list(FieldOperator)), st.text(alphabet="a1\\,=! ", max_size=6)
)


@given(st.lists(_term, max_size=5))
def test_canonical_string_reparses_to_an_equal_selector(terms: list[FieldRequirement]) -> None:
    """String() of any selector parses back to the same selector."""
    sel = FieldSelector(tuple(terms))
    assert parse_field_selector(str(sel)) == sel


def test_everything_and_one_term_like_fields_helpers() -> None:
    """fields.Everything() is empty and matches all; OneTermEqualSelector is `field=value`."""
    assert fields.everything().empty() and fields.everything().matches({"a": "b"})
    assert str(fields.everything()) == ""
    one = fields.one_term_equal("metadata.name", "a,b")
    assert not one.empty()
    assert str(one) == r"metadata.name=a\,b"
    assert one.matches({"metadata.name": "a,b"})
    assert fields.selector_from_set({"b": "2", "a": "1"}) == parse_field_selector("a=1,b=2")


def test_requires_exact_match_like_fields_requires_exact_match() -> None:
    """RequiresExactMatch finds an `=` term for the field, never a `!=` one."""
    sel = parse_field_selector("a=1,b!=2")
    assert sel.requires_exact_match("a") == "1"
    assert sel.requires_exact_match("b") is None
    assert sel.requires_exact_match("c") is None


def test_transform_rewrites_fields_like_selector_transform() -> None:
    """Selector.Transform maps each (field, value); the result is a new, re-sorted selector."""
    sel = parse_field_selector("spec.host=n1,metadata.name=x")
    moved = sel.transform(lambda f, v: ("spec.nodeName" if f == "spec.host" else f, v))
    assert str(moved) == "metadata.name=x,spec.nodeName=n1"
    assert str(sel) == "metadata.name=x,spec.host=n1"
