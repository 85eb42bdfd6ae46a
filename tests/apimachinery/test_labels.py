"""Label selectors against k8s.io/apimachinery/pkg/labels (selector.go) and
metav1.LabelSelectorAsSelector (apis/meta/v1/helpers.go)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from apimachinery import labels
from apimachinery.errors import BadRequestError
from apimachinery.labels import Operator, Requirement, Selector, new_requirement, parse

# --- matching: one row per operator (labels.Requirement.Matches) --------------------------------

MATCH_CASES = [
    # (selector, labels, matches)
    ("a=b", {"a": "b"}, True),
    ("a=b", {"a": "c"}, False),
    ("a=b", {}, False),
    ("a==b", {"a": "b"}, True),
    ("a==b", {"a": "c"}, False),
    ("a!=b", {"a": "c"}, True),
    ("a!=b", {"a": "b"}, False),
    ("a!=b", {}, True),  # a missing key satisfies !=
    ("a in (x,y)", {"a": "y"}, True),
    ("a in (x,y)", {"a": "z"}, False),
    ("a in (x,y)", {}, False),
    ("a notin (x)", {"a": "y"}, True),
    ("a notin (x)", {"a": "x"}, False),
    ("a notin (x)", {}, True),  # a missing key satisfies notin
    ("a", {"a": ""}, True),
    ("a", {"b": "a"}, False),
    ("!a", {}, True),
    ("!a", {"a": "x"}, False),
    ("a>1", {"a": "2"}, True),
    ("a>1", {"a": "1"}, False),
    ("a>1", {"a": "x"}, False),  # non-integer label never satisfies gt
    ("a>1", {}, False),
    ("a<5", {"a": "-3"}, True),
    ("a<5", {"a": "5"}, False),
    ("a<5", {"a": "+4"}, True),  # strconv.ParseInt accepts a sign
    ("a=", {"a": ""}, True),  # an absent value means the empty value
    ("a=", {}, False),
    ("a in ()", {"a": ""}, True),
    ("a=b,c=d", {"a": "b", "c": "d"}, True),  # comma is AND
    ("a=b,c=d", {"a": "b", "c": "x"}, False),
    ("", {"any": "thing"}, True),  # the empty string selects everything
    ("in in (notin)", {"in": "notin"}, True),  # keywords are identifiers in key/value position
]


@pytest.mark.parametrize(("selector", "label_set", "want"), MATCH_CASES)
def test_requirement_matches_like_labels_requirement_matches(
    selector: str, label_set: dict[str, str], want: bool
) -> None:
    """labels.Requirement.Matches for =, ==, !=, in, notin, exists, !, gt and lt."""
    assert parse(selector).matches(label_set) is want


# --- canonical string (labels.Selector.String) ------------------------------------------------

STRING_CASES = [
    ("x=a,y=b,z=c", "x=a,y=b,z=c"),
    ("z=c , y=b,x=a", "x=a,y=b,z=c"),  # sorted by key, whitespace dropped
    ("x==a", "x==a"),  # == keeps its spelling
    ("x!=a", "x!=a"),
    ("x in (c,a,b)", "x in (a,b,c)"),  # values sorted
    ("x in (a,a,b)", "x in (a,b)"),  # and de-duplicated (the parser keeps a set)
    ("x notin ( b , a )", "x notin (a,b)"),
    ("x in (foo,,baz),y,z notin ()", "x in (,baz,foo),y,z notin ()"),
    ("x in (a,)", "x in (,a)"),
    ("!x", "!x"),
    ("x", "x"),
    ("x>1,z<5", "x>1,z<5"),
    ("x= ", "x="),
    ("\tx\n=\ra", "x=a"),
    ("example.com/app=web", "example.com/app=web"),
    ("", ""),
]


@pytest.mark.parametrize(("given_text", "canonical"), STRING_CASES)
def test_canonical_string_like_selector_string(given_text: str, canonical: str) -> None:
    """labels.Parse then Selector.String(): requirements by key, set values sorted."""
    assert str(parse(given_text)) == canonical


# --- parse errors name the token and its offset --------------------------------------------------

ERROR_CASES = [
    # (selector, fragments the message must contain)
    ("a in (x", ["found ''", "expected: ',' or ')'", "offset 7"]),
    ("a in x", ["found 'x'", "'('", "offset 5"]),
    ("=b", ["found '='", "expected: !, identifier, or 'end of string'", "offset 0"]),
    ("a!!=b", ["found '!'", "expected: in, notin, =, ==, !=, gt, lt", "offset 1"]),
    ("!x=a", ["found '='", "',' or 'end of string'", "offset 2"]),
    ("x==a==b", ["found '=='", "offset 4"]),
    ("x=a||y=b", ['Invalid value: "a||y"', "offset 2"]),  # '|' is no symbol: "a||y" is one (bad) value
    ("a b", ["found 'b'", "expected: in, notin"]),
    ("a,", ["found ''", "identifier after ','", "offset 2"]),
    (",a", ["found ','", "offset 0"]),
    ("a in (x y)", ["found 'y'", "expected: ',' or ')'", "offset 8"]),
    ("a in (x,=)", ["found '='", "offset 8"]),
    ("a=b)", ["found ')'", "offset 3"]),
    ("x<a", ["must be an integer", '"a"', "offset 2"]),
    ("x>99999999999999999999", ["must be an integer"]),  # beyond int64
    ("a=b c", ["found 'c'", "offset 4"]),
]


@pytest.mark.parametrize(("selector", "fragments"), ERROR_CASES)
def test_parse_error_names_token_and_offset(selector: str, fragments: list[str]) -> None:
    """labels.Parse errors: `found '<token>', expected: ...`, plus the token's offset."""
    with pytest.raises(BadRequestError) as info:
        parse(selector)
    assert info.value.code == 400
    for fragment in fragments:
        assert fragment in info.value.message


def test_requirement_errors_are_prefixed_like_labels_parse() -> None:
    """Errors inside a requirement read `unable to parse requirement: ...`, as labels.Parse wraps them."""
    with pytest.raises(BadRequestError, match=r"^unable to parse requirement: found ''"):
        parse("a in (x")


def test_a_double_equals_with_no_value_is_the_empty_value() -> None:
    """`a==` is valid in labels.Parse (parseExactValue reads end of string as ""), not an error."""
    sel = parse("a==")
    assert sel.requirements == (Requirement("a", Operator.DOUBLE_EQUALS, ("",)),)
    assert sel.matches({"a": ""}) and not sel.matches({"a": "x"})


BAD_SYNTAX = [
    ("a" * 64, "name part"),  # name longer than 63
    ("-a", "name part"),  # must start alphanumeric
    ("a-", "name part"),  # must end alphanumeric
    ("a_b$c", "name part"),
    ("Example.com/a", "prefix part"),  # prefix must be lowercase DNS subdomain
    ("/a", "prefix part must be non-empty"),
    ("a/", "name part must be non-empty"),
    ("a/b/c", "at most one '/'"),
    (("x" * 63 + ".") * 4 + "com/a", "prefix part must be no more than 253"),
]


@pytest.mark.parametrize(("key", "why"), BAD_SYNTAX)
def test_bad_label_keys_are_rejected_like_is_qualified_name(key: str, why: str) -> None:
    """validation.IsQualifiedName: `[DNS-1123 subdomain <= 253 /] name <= 63 [A-Za-z0-9][-A-Za-z0-9_.]*`."""
    with pytest.raises(BadRequestError, match="key: Invalid value") as info:
        parse(f"{key}=v")
    assert why in info.value.message
    assert "offset 0" in info.value.message


@pytest.mark.parametrize("value", ["v" * 64, "-v", "v-", "v.", "a$b", "é"])
def test_bad_label_values_are_rejected_like_is_valid_label_value(value: str) -> None:
    """validation.IsValidLabelValue: empty, or <= 63 chars of [-A-Za-z0-9_.] starting/ending alphanumeric."""
    with pytest.raises(BadRequestError, match=r"values\[0\]\[k\]: Invalid value") as info:
        parse(f"k in ({value})")
    assert "offset 6" in info.value.message


@pytest.mark.parametrize("key", ["a", "a" * 63, "a.b-c_d", "example.com/a", "k8s.io/app.name", "A9"])
def test_good_label_keys_parse(key: str) -> None:
    """Keys accepted by IsQualifiedName parse and print back unchanged."""
    assert str(parse(f"{key}=v")) == f"{key}=v"


# --- new_requirement (labels.NewRequirement) --------------------------------------------------------

NEW_REQUIREMENT_ERRORS: list[tuple[str, Any, list[str], str]] = [
    ("a", Operator.IN, [], "values set can't be empty"),
    ("a", Operator.NOT_IN, [], "values set can't be empty"),
    ("a", Operator.EQUALS, ["x", "y"], "exact-match compatibility requires one single value"),
    ("a", Operator.NOT_EQUALS, [], "exact-match compatibility requires one single value"),
    ("a", Operator.EXISTS, ["x"], "values set must be empty"),
    ("a", Operator.DOES_NOT_EXIST, ["x"], "values set must be empty"),
    ("a", Operator.GREATER_THAN, ["1", "2"], "exactly one value is required"),
    ("a", "~=", ["x"], "Unsupported value"),
]


@pytest.mark.parametrize(("key", "op", "values", "why"), NEW_REQUIREMENT_ERRORS)
def test_new_requirement_validates_like_labels_new_requirement(key: str, op: Any, values: list[str], why: str) -> None:
    """labels.NewRequirement's arity rules per operator."""
    with pytest.raises(BadRequestError, match=why):
        new_requirement(key, op, values)


def test_new_requirement_reports_every_problem_at_once() -> None:
    """NewRequirement aggregates all errors: `[key: ..., values[0][..]: ...]`."""
    with pytest.raises(BadRequestError, match=r"^\[key: .*, values\[0\]\[-a\]: ") as info:
        new_requirement("-a", Operator.EQUALS, ["-b"])
    assert info.value.message.count("Invalid value") == 2


# --- selectors: everything, nothing, set, add -------------------------------------------------------


def test_everything_and_nothing_like_labels_everything_and_nothing() -> None:
    """Everything() is empty and matches all; Nothing() is not empty and matches none; both print ""."""
    assert labels.everything().empty() and labels.everything().matches({"a": "b"})
    assert not labels.nothing().empty() and not labels.nothing().matches({})
    assert str(labels.everything()) == str(labels.nothing()) == ""
    assert labels.nothing().add(new_requirement("a", Operator.EXISTS)) == labels.nothing()
    assert parse("") == labels.everything()


def test_selector_from_set_like_selector_from_set() -> None:
    """SelectorFromSet: one `k=v` per entry, sorted by key; an empty set selects everything."""
    sel = labels.selector_from_set({"b": "2", "a": "1"})
    assert str(sel) == "a=1,b=2"
    assert sel.matches({"a": "1", "b": "2", "c": "3"}) and not sel.matches({"a": "1"})
    assert labels.selector_from_set({}).empty()
    with pytest.raises(BadRequestError):
        labels.selector_from_set({"a": "not valid"})
    assert str(labels.selector_from_set({"a": "not valid"}, validate=False)) == "a=not valid"


def test_selector_is_immutable_and_add_returns_a_new_one() -> None:
    """Selector.Add copies: the receiver is unchanged and the result stays sorted by key."""
    base = parse("b=1")
    more = base.add(new_requirement("a", Operator.EXISTS))
    assert str(base) == "b=1" and str(more) == "a,b=1"
    with pytest.raises(AttributeError):
        base.requirements = ()  # type: ignore[misc]


def test_requires_exact_match_like_selector_requires_exact_match() -> None:
    """RequiresExactMatch: the single value demanded by =, == or a one-value in."""
    assert parse("a=1,b in (2),c in (3,4),d!=5").requires_exact_match("a") == "1"
    assert parse("b in (2)").requires_exact_match("b") == "2"
    assert parse("c in (3,4)").requires_exact_match("c") is None
    assert parse("d!=5").requires_exact_match("d") is None
    assert parse("a=1").requires_exact_match("zzz") is None


# --- metav1.LabelSelector conversion ------------------------------------------------------------------

LABEL_SELECTOR_CASES: list[tuple[dict[str, Any] | None, str, dict[str, str], bool]] = [
    (None, "", {}, False),  # nil selector selects nothing
    ({}, "", {"a": "b"}, True),  # empty selector selects everything
    ({"matchLabels": {"app": "web", "tier": "fe"}}, "app=web,tier=fe", {"app": "web", "tier": "fe"}, True),
    (
        {"matchExpressions": [{"key": "env", "operator": "In", "values": ["b", "a"]}]},
        "env in (a,b)",
        {"env": "a"},
        True,
    ),
    ({"matchExpressions": [{"key": "env", "operator": "NotIn", "values": ["a"]}]}, "env notin (a)", {}, True),
    ({"matchExpressions": [{"key": "env", "operator": "Exists"}]}, "env", {"env": ""}, True),
    ({"matchExpressions": [{"key": "env", "operator": "DoesNotExist", "values": []}]}, "!env", {"env": "x"}, False),
    (
        {"matchLabels": {"z": "1"}, "matchExpressions": [{"key": "a", "operator": "Exists"}]},
        "a,z=1",
        {"a": "", "z": "1"},
        True,
    ),
]


@pytest.mark.parametrize(("selector", "text", "label_set", "want"), LABEL_SELECTOR_CASES)
def test_from_label_selector_like_label_selector_as_selector(
    selector: dict[str, Any] | None, text: str, label_set: dict[str, str], want: bool
) -> None:
    """metav1.LabelSelectorAsSelector: matchLabels as `=`, matchExpressions by operator, nil/{} special."""
    sel = labels.from_label_selector(selector)
    assert str(sel) == text
    assert sel.matches(label_set) is want


LABEL_SELECTOR_ERRORS = [
    ({"matchExpressions": [{"key": "a", "operator": "In", "values": []}]}, "values set can't be empty"),
    ({"matchExpressions": [{"key": "a", "operator": "NotIn"}]}, "values set can't be empty"),
    ({"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["x"]}]}, "values set must be empty"),
    ({"matchExpressions": [{"key": "a", "operator": "DoesNotExist", "values": ["x"]}]}, "values set must be empty"),
    ({"matchExpressions": [{"key": "a", "operator": "Gt", "values": ["1"]}]}, '"Gt" is not a valid label selector'),
    ({"matchExpressions": [{"key": "a b", "operator": "Exists"}]}, "key: Invalid value"),
    ({"matchLabels": {"a": "b c"}}, r"values\[0\]\[a\]: Invalid value"),
]


@pytest.mark.parametrize(("selector", "why"), LABEL_SELECTOR_ERRORS)
def test_from_label_selector_errors_like_label_selector_as_selector(selector: dict[str, Any], why: str) -> None:
    """LabelSelectorAsSelector rejects bad operators, wrong value counts and bad keys/values."""
    with pytest.raises(BadRequestError, match=why):
        labels.from_label_selector(selector)


# --- round trip property --------------------------------------------------------------------------------

_alnum = st.sampled_from("abcxyzABZ0189")
_inner = st.text(alphabet="abz09-_.", max_size=6)
_name = st.builds(lambda a, mid, b: a + mid + b, _alnum, _inner, _alnum) | _alnum
_prefix = st.lists(st.text(alphabet="abz09", min_size=1, max_size=5), min_size=1, max_size=3).map(".".join)
_key = _name | st.builds(lambda p, n: f"{p}/{n}", _prefix, _name) | st.sampled_from(["in", "notin"])
_value = st.just("") | _name | st.sampled_from(["in", "notin"])
_int = st.integers(min_value=-(2**63), max_value=2**63 - 1).map(str)


@st.composite
def _requirements(draw: st.DrawFn) -> Requirement:
    op = draw(st.sampled_from(list(Operator)))
    values: list[str]
    if op in (Operator.EXISTS, Operator.DOES_NOT_EXIST):
        values = []
    elif op in (Operator.GREATER_THAN, Operator.LESS_THAN):
        values = [draw(_int.filter(lambda s: not s.startswith("-")))]
    elif op in (Operator.IN, Operator.NOT_IN):
        values = draw(st.lists(_value, min_size=1, max_size=4))
    else:
        values = [draw(_value)]
    return new_requirement(draw(_key), op, values)


@given(st.lists(_requirements(), max_size=5))
def test_canonical_string_reparses_to_an_equal_selector(reqs: list[Requirement]) -> None:
    """str(parse(s)) is stable: printing any valid selector and parsing it back gives it again."""
    sel = Selector(tuple(reqs))
    again = parse(str(sel))
    assert again == sel
    assert str(again) == str(sel)


@given(st.lists(_requirements(), max_size=4), st.dictionaries(_key, _value, max_size=4))
def test_reparsed_selector_matches_the_same_labels(reqs: list[Requirement], label_set: dict[str, str]) -> None:
    """The printed form selects exactly what the original selects."""
    sel = Selector(tuple(reqs))
    assert parse(str(sel)).matches(label_set) == sel.matches(label_set)
