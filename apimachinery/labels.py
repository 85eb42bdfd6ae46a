"""Label selectors, with the syntax and semantics of k8s.io/apimachinery/pkg/labels.

A selector is an AND of requirements on an object's labels. `parse()` reads the string form that
`?labelSelector=` and `kubectl -l` use; `from_label_selector()` converts the structured
`metav1.LabelSelector` found in workload specs. Both produce the same immutable `Selector`, whose
`str()` is the canonical form (requirements ordered by key, set values sorted), so two spellings of
one selector print alike and a printed selector parses back to an equal one.

    >>> sel = parse("tier in (web, api), !canary, env!=prod")
    >>> str(sel)
    '!canary,env!=prod,tier in (api,web)'
    >>> sel.matches({"tier": "web", "env": "dev"}), sel.matches({"tier": "web", "canary": "1"})
    (True, False)

Grammar (whitespace separates tokens and is otherwise ignored):

    selector    := "" | requirement ("," requirement)*
    requirement := ["!"] KEY | KEY ("=" | "==" | "!=" | ">" | "<") [VALUE] | KEY ("in" | "notin") "(" VALUES ")"

Malformed input raises `BadRequestError` naming the token found, what was expected and its offset.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from apimachinery.errors import BadRequestError, FieldError, invalid, not_supported


class Operator(enum.StrEnum):
    """selection.Operator: how a requirement relates its key to its values."""

    IN = "in"
    NOT_IN = "notin"
    EQUALS = "="
    DOUBLE_EQUALS = "=="
    NOT_EQUALS = "!="
    EXISTS = "exists"
    DOES_NOT_EXIST = "!"
    GREATER_THAN = "gt"
    LESS_THAN = "lt"


_SET_OPS = (Operator.IN, Operator.NOT_IN)
_EXACT_OPS = (Operator.EQUALS, Operator.DOUBLE_EQUALS, Operator.NOT_EQUALS)
_UNARY_OPS = (Operator.EXISTS, Operator.DOES_NOT_EXIST)
_ORDER_OPS = (Operator.GREATER_THAN, Operator.LESS_THAN)
# How each binary operator is spelled between key and value(s), in the order errors list them.
_SPELLING = {Operator.IN: " in ", Operator.NOT_IN: " notin ", Operator.EQUALS: "=", Operator.DOUBLE_EQUALS: "=="}
_SPELLING |= {Operator.NOT_EQUALS: "!=", Operator.GREATER_THAN: ">", Operator.LESS_THAN: "<"}
_OPERATOR_BY_TOKEN = {spelling.strip(): op for op, spelling in _SPELLING.items()}

# --- key and value syntax (util/validation IsQualifiedName, IsValidLabelValue) ---------------

NAME_MAX_LENGTH = 63
PREFIX_MAX_LENGTH = 253
VALUE_MAX_LENGTH = 63
_NAME_RE = re.compile(r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]")
_VALUE_RE = re.compile(r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?")
_SUBDOMAIN_RE = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_INT64_RE = re.compile(r"[+-]?[0-9]+")
_NAME_RULE = (
    "must be 63 characters or less, consist of alphanumerics, '-', '_' or '.', and start and end with an "
    f"alphanumeric (e.g. 'MyName', 'my.name' or '123-abc'; regex '{_NAME_RE.pattern}')"
)


def label_key_errors(key: str) -> list[str]:
    """Why `key` is not a valid label key (`[prefix/]name`), or [] if it is."""
    parts = key.split("/")
    if len(parts) > 2:
        return ["a qualified name has at most one '/', between an optional DNS subdomain prefix and the name"]
    errs: list[str] = []
    name = parts[-1]
    if len(parts) == 2:
        prefix = parts[0]
        if not prefix:
            errs.append("prefix part must be non-empty")
        elif len(prefix) > PREFIX_MAX_LENGTH:
            errs.append(f"prefix part must be no more than {PREFIX_MAX_LENGTH} characters")
        elif not _SUBDOMAIN_RE.fullmatch(prefix):
            errs.append(
                "prefix part must be a lowercase RFC 1123 subdomain: lower case alphanumerics, '-' or '.', "
                f"starting and ending with an alphanumeric (e.g. 'example.com'; regex '{_SUBDOMAIN_RE.pattern}')"
            )
    if not name:
        errs.append("name part must be non-empty")
    elif len(name) > NAME_MAX_LENGTH or not _NAME_RE.fullmatch(name):
        errs.append("name part " + _NAME_RULE)
    return errs


def label_value_errors(value: str) -> list[str]:
    """Why `value` is not a valid label value (empty, or a name-like string of <= 63 chars)."""
    errs: list[str] = []
    if len(value) > VALUE_MAX_LENGTH:
        errs.append(f"must be no more than {VALUE_MAX_LENGTH} characters")
    if not _VALUE_RE.fullmatch(value):
        errs.append(
            "a valid label must be an empty string or consist of alphanumerics, '-', '_' or '.', and start "
            f"and end with an alphanumeric (e.g. 'MyValue', 'my_value' or '12345'; regex '{_VALUE_RE.pattern}')"
        )
    return errs


def _parse_int64(text: str) -> int | None:
    """strconv.ParseInt(text, 10, 64), or None when it would fail."""
    if not _INT64_RE.fullmatch(text):
        return None
    number = int(text)
    return number if -(2**63) <= number < 2**63 else None


def _aggregate(errs: Sequence[FieldError]) -> str:
    """One error as itself, several as `[a, b]` (utilerrors.Aggregate's wording)."""
    return str(errs[0]) if len(errs) == 1 else "[" + ", ".join(str(e) for e in errs) + "]"


# --- requirements and selectors ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Requirement:
    """One condition on one label key. Build it with `new_requirement()`, which validates it."""

    key: str
    """The label key, `[prefix/]name`."""
    operator: Operator
    values: tuple[str, ...] = ()
    """Sorted and without duplicates; empty for EXISTS/DOES_NOT_EXIST, one value for exact and gt/lt."""

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Requirement.Matches: NOT_IN/NOT_EQUALS/DOES_NOT_EXIST match a missing key, the rest need it."""
        op = self.operator
        if op in _UNARY_OPS:
            return (self.key in labels) == (op is Operator.EXISTS)
        if self.key not in labels:
            return op in (Operator.NOT_IN, Operator.NOT_EQUALS)
        value = labels[self.key]
        if op in (Operator.IN, Operator.EQUALS, Operator.DOUBLE_EQUALS):
            return value in self.values
        if op in (Operator.NOT_IN, Operator.NOT_EQUALS):
            return value not in self.values
        have = _parse_int64(value)
        want = _parse_int64(self.values[0]) if len(self.values) == 1 else None
        if have is None or want is None:
            return False  # a non-integer label never satisfies gt/lt
        return have > want if op is Operator.GREATER_THAN else have < want

    def __str__(self) -> str:
        if self.operator is Operator.EXISTS:
            return self.key
        if self.operator is Operator.DOES_NOT_EXIST:
            return "!" + self.key
        joined = ",".join(self.values)
        if self.operator in _SET_OPS:
            joined = f"({joined})"
        return f"{self.key}{_SPELLING[self.operator]}{joined}"


def _requirement_errors(key: str, op: Operator, values: Sequence[str]) -> list[FieldError]:
    errs: list[FieldError] = []
    if key_errs := label_key_errors(key):
        errs.append(invalid("key", key, "; ".join(key_errs)))
    listed = list(values)
    if op in _SET_OPS and not values:
        errs.append(invalid("values", listed, "for 'in', 'notin' operators, values set can't be empty"))
    elif op in _EXACT_OPS and len(values) != 1:
        errs.append(invalid("values", listed, "exact-match compatibility requires one single value"))
    elif op in _UNARY_OPS and values:
        errs.append(invalid("values", listed, "values set must be empty for exists and does not exist"))
    elif op in _ORDER_OPS:
        if len(values) != 1:
            errs.append(invalid("values", listed, "for 'Gt', 'Lt' operators, exactly one value is required"))
        for i, value in enumerate(values):
            if _parse_int64(value) is None:
                errs.append(invalid(f"values[{i}]", value, "for 'Gt', 'Lt' operators, the value must be an integer"))
    for i, value in enumerate(values):
        if value_errs := label_value_errors(value):
            errs.append(invalid(f"values[{i}][{key}]", value, "; ".join(value_errs)))
    return errs


def new_requirement(key: str, operator: Operator | str, values: Iterable[str] = ()) -> Requirement:
    """labels.NewRequirement: a validated requirement, or BadRequestError listing every problem."""
    vals = tuple(values)
    try:
        op = Operator(operator)
    except ValueError:
        err = not_supported("operator", str(operator), [str(o) for o in Operator])
        raise BadRequestError(str(err)) from None
    if errs := _requirement_errors(key, op, vals):
        raise BadRequestError(_aggregate(errs))
    return Requirement(key, op, tuple(sorted(set(vals))))


@dataclass(frozen=True, slots=True)
class Selector:
    """An AND of requirements, kept sorted by key (stable for equal keys), as labels.Selector.

    `selectable=False` is `nothing()`: it matches no label set. The empty selectable selector is
    `everything()`. Both print as the empty string, as in Go.
    """

    requirements: tuple[Requirement, ...] = ()
    selectable: bool = True

    def __post_init__(self) -> None:
        ordered = tuple(sorted(self.requirements, key=lambda r: r.key))
        object.__setattr__(self, "requirements", ordered if self.selectable else ())

    def matches(self, labels: Mapping[str, str]) -> bool:
        return self.selectable and all(r.matches(labels) for r in self.requirements)

    def empty(self) -> bool:
        """True when the selector does not restrict anything (everything()); nothing() is not empty."""
        return self.selectable and not self.requirements

    def add(self, *requirements: Requirement) -> Selector:
        """A new selector with more requirements ANDed in (nothing() stays nothing())."""
        if not self.selectable:
            return self
        return Selector(self.requirements + requirements)

    def requires_exact_match(self, key: str) -> str | None:
        """The single value the selector demands for `key` (=, == or a one-value in), else None."""
        for r in self.requirements:
            if r.key == key:
                exact = r.operator in (Operator.EQUALS, Operator.DOUBLE_EQUALS, Operator.IN)
                return r.values[0] if exact and len(r.values) == 1 else None
        return None

    def __str__(self) -> str:
        return ",".join(str(r) for r in self.requirements)


_EVERYTHING = Selector()
_NOTHING = Selector(selectable=False)


def everything() -> Selector:
    """labels.Everything(): matches every label set."""
    return _EVERYTHING


def nothing() -> Selector:
    """labels.Nothing(): matches no label set."""
    return _NOTHING


def selector_from_set(labels: Mapping[str, str], *, validate: bool = True) -> Selector:
    """A selector requiring each `key=value` of `labels` (empty mapping -> everything()).

    With `validate` (ValidatedSelectorFromSet) a bad key or value raises BadRequestError;
    without it (SelectorFromValidatedSet) the caller vouches for the labels.
    """
    if validate:
        return Selector(tuple(new_requirement(k, Operator.EQUALS, [v]) for k, v in labels.items()))
    return Selector(tuple(Requirement(k, Operator.EQUALS, (v,)) for k, v in labels.items()))


_LABEL_SELECTOR_OPS = {
    "In": Operator.IN,
    "NotIn": Operator.NOT_IN,
    "Exists": Operator.EXISTS,
    "DoesNotExist": Operator.DOES_NOT_EXIST,
}


def from_label_selector(label_selector: Mapping[str, Any] | None) -> Selector:
    """metav1.LabelSelectorAsSelector: None selects nothing, `{}` selects everything.

    `matchLabels` entries become `key=value`; each `matchExpressions` entry (key, operator
    In/NotIn/Exists/DoesNotExist, values) becomes one requirement. In/NotIn need values,
    Exists/DoesNotExist must have none; any violation raises BadRequestError.
    """
    if label_selector is None:
        return nothing()
    match_labels: Mapping[str, str] = label_selector.get("matchLabels") or {}
    expressions: Sequence[Mapping[str, Any]] = label_selector.get("matchExpressions") or ()
    if not match_labels and not expressions:
        return everything()
    reqs = [new_requirement(k, Operator.EQUALS, [v]) for k, v in match_labels.items()]
    for expr in expressions:
        name = expr.get("operator", "")
        op = _LABEL_SELECTOR_OPS.get(name)
        if op is None:
            raise BadRequestError(f'"{name}" is not a valid label selector operator')
        reqs.append(new_requirement(str(expr.get("key", "")), op, expr.get("values") or ()))
    return Selector(tuple(reqs))


# --- the string syntax: lexer -------------------------------------------------------------------


class _Tok(enum.Enum):
    END = "end of string"
    IDENT = "identifier"
    IN = "in"  # keywords: operators after a key, identifiers anywhere else
    NOT_IN = "notin"
    BANG = "!"
    OPEN = "("
    CLOSE = ")"
    COMMA = ","
    COMPARE = "=, ==, !=, > or <"


_SYMBOLS = {"!": _Tok.BANG, "(": _Tok.OPEN, ")": _Tok.CLOSE, ",": _Tok.COMMA}
_SYMBOLS |= {text: _Tok.COMPARE for text in ("=", "==", "!=", ">", "<")}
_KEYWORDS = {"in": _Tok.IN, "notin": _Tok.NOT_IN}
_SPECIAL = frozenset("=!(),><")
_SPACE = frozenset(" \t\r\n")


@dataclass(frozen=True, slots=True)
class _Token:
    kind: _Tok
    text: str
    pos: int  # offset of the token's first character in the selector string


def _lex(s: str) -> list[_Token]:
    """Split `s` into tokens; the list always ends with an END token at offset len(s)."""
    tokens: list[_Token] = []
    i, n = 0, len(s)
    while True:
        while i < n and s[i] in _SPACE:
            i += 1
        if i == n:
            tokens.append(_Token(_Tok.END, "", n))
            return tokens
        start = i
        if s[i] in _SPECIAL:
            # Longest run of symbol characters that spells an operator: "!=" is one token, "!!" two.
            while i < n and s[start : i + 1] in _SYMBOLS:
                i += 1
            tokens.append(_Token(_SYMBOLS[s[start:i]], s[start:i], start))
        else:
            while i < n and s[i] not in _SPECIAL and s[i] not in _SPACE:
                i += 1
            word = s[start:i]
            tokens.append(_Token(_KEYWORDS.get(word, _Tok.IDENT), word, start))


# --- the string syntax: parser --------------------------------------------------------------------


class _ParseError(Exception):
    def __init__(self, message: str, pos: int) -> None:
        super().__init__(message)
        self.message = message
        self.pos = pos


class _Parser:
    """Recursive descent over the tokens, as labels.Parser. In value position the keywords `in`
    and `notin` are plain identifiers, so `in in (notin)` is a valid requirement."""

    def __init__(self, text: str) -> None:
        self.tokens = _lex(text)
        self.at = 0

    def peek(self, values: bool = True) -> _Token:
        return self._as_value(self.tokens[self.at]) if values else self.tokens[self.at]

    def take(self, values: bool = True) -> _Token:
        token = self.peek(values)
        self.at += 1
        return token

    @staticmethod
    def _as_value(token: _Token) -> _Token:
        return _Token(_Tok.IDENT, token.text, token.pos) if token.kind in (_Tok.IN, _Tok.NOT_IN) else token

    def selector(self) -> list[Requirement]:
        reqs: list[Requirement] = []
        while True:
            token = self.peek()
            if token.kind is _Tok.END:
                return reqs
            if token.kind not in (_Tok.IDENT, _Tok.BANG):
                raise _ParseError(f"found '{token.text}', expected: !, identifier, or 'end of string'", token.pos)
            try:
                reqs.append(self.requirement())
            except _ParseError as e:
                raise _ParseError("unable to parse requirement: " + e.message, e.pos) from None
            after = self.take()
            if after.kind is _Tok.END:
                return reqs
            if after.kind is not _Tok.COMMA:
                raise _ParseError(f"found '{after.text}', expected: ',' or 'end of string'", after.pos)
            nxt = self.peek()
            if nxt.kind not in (_Tok.IDENT, _Tok.BANG):
                raise _ParseError(f"found '{nxt.text}', expected: identifier after ','", nxt.pos)

    def requirement(self) -> Requirement:
        key_token, op = self.key_and_unary()
        if op is not None:
            return self.build(key_token, op, [])
        op = self.operator()
        values = self.value_set() if op in _SET_OPS else self.exact_value()
        return self.build(key_token, op, values)

    def key_and_unary(self) -> tuple[_Token, Operator | None]:
        token = self.take()
        negated = token.kind is _Tok.BANG
        if negated:
            token = self.take()
        if token.kind is not _Tok.IDENT:
            raise _ParseError(f"found '{token.text}', expected: identifier", token.pos)
        if errs := label_key_errors(token.text):
            raise _ParseError(str(invalid("key", token.text, "; ".join(errs))), token.pos)
        if negated:
            return token, Operator.DOES_NOT_EXIST  # anything after `!key` but , or end is an error later
        if self.peek().kind in (_Tok.END, _Tok.COMMA):
            return token, Operator.EXISTS
        return token, None

    def operator(self) -> Operator:
        token = self.take(values=False)
        op = _OPERATOR_BY_TOKEN.get(token.text) if token.kind is not _Tok.IDENT else None
        if op is None:
            expected = ", ".join(str(o) for o in _SPELLING)
            raise _ParseError(f"found '{token.text}', expected: {expected}", token.pos)
        return op

    def value_set(self) -> list[_Token]:
        """`( v1, v2, ... )`; empty members (`()`, `(a,)`, `(,)`) stand for the empty value."""
        token = self.take()
        if token.kind is not _Tok.OPEN:
            raise _ParseError(f"found '{token.text}', expected: '('", token.pos)
        values: list[_Token] = []
        expect_value = True  # at the start, or just after a comma
        while True:
            token = self.take()
            if token.kind is _Tok.IDENT and expect_value:
                values.append(token)
                expect_value = False
            elif token.kind is _Tok.COMMA:
                if expect_value:
                    values.append(_Token(_Tok.IDENT, "", token.pos))
                expect_value = True
            elif token.kind is _Tok.CLOSE:
                if expect_value:
                    values.append(_Token(_Tok.IDENT, "", token.pos))
                return values
            else:
                wanted = "',' or ')'" if not expect_value else "',', ')' or identifier"
                raise _ParseError(f"found '{token.text}', expected: {wanted}", token.pos)

    def exact_value(self) -> list[_Token]:
        """The one value after =, ==, !=, > or <; nothing before `,` or the end means ""."""
        token = self.peek()
        if token.kind in (_Tok.END, _Tok.COMMA):
            return [_Token(_Tok.IDENT, "", token.pos)]
        self.at += 1
        if token.kind is not _Tok.IDENT:
            raise _ParseError(f"found '{token.text}', expected: identifier", token.pos)
        return [token]

    @staticmethod
    def build(key: _Token, op: Operator, values: list[_Token]) -> Requirement:
        texts = [v.text for v in values]
        try:
            return new_requirement(key.text, op, texts)
        except BadRequestError as e:
            bad = [
                v for v in values if label_value_errors(v.text) or (op in _ORDER_OPS and _parse_int64(v.text) is None)
            ]
            raise _ParseError(e.message, bad[0].pos if bad else key.pos) from None


def parse(selector: str) -> Selector:
    """labels.Parse: the selector a `labelSelector` string describes ("" selects everything).

    Raises BadRequestError, e.g. `unable to parse requirement: found '', expected: ',' or ')'
    (at offset 7 in 'a in (x')`.
    """
    try:
        reqs = _Parser(selector).selector()
    except _ParseError as e:
        raise BadRequestError(f"{e.message} (at offset {e.pos} in {selector!r})") from None
    return Selector(tuple(reqs))


__all__ = [
    "Operator",
    "Requirement",
    "Selector",
    "everything",
    "from_label_selector",
    "label_key_errors",
    "label_value_errors",
    "new_requirement",
    "nothing",
    "parse",
    "selector_from_set",
]
