"""The QuickBooks query language for Customer: a Lark grammar, a typed syntax tree, and a
compiler to parameterised SQLAlchemy (values are always bound, never spliced into SQL).

    SELECT * | COUNT(*) | p [, p]... FROM Customer [WHERE c [AND c]...]
        [ORDERBY p [ASC|DESC], ...] [STARTPOSITION n] [MAXRESULTS n]

Keywords and the entity name in any case, `ORDER BY` as well as `ORDERBY`, dotted
properties (`MetaData.` or `Metadata.`), `\\'` inside quoted strings. Anything else is a
4000 fault that names the problem; OR is refused with its own message.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

import sqlalchemy as sa
from lark import Lark, Token, Transformer, v_args
from lark.exceptions import LarkError, UnexpectedCharacters, UnexpectedEOF, UnexpectedToken

from ledgerbridge.parsing import (
    ParseError,
    cents,
    check_text,
    parse_datetime,
    parse_decimal,
    parse_int,
)
from ledgerbridge.providers.qbo import wire
from ledgerbridge.providers.qbo.sandbox.store import company_zone
from ledgerbridge.providers.qbo.sandbox.tables import customers

DEFAULT_MAX_RESULTS = 100
MAX_RESULTS_CAP = 1000
_MAX_INT = 2**31 - 1
# Intuit publishes no limit on a query's size; these are ours, far above any real query and
# below what the databases refuse (SQLite: "Expression tree is too large" past 1,000
# terms, "too many SQL variables" past 32,766 values). Past them: a 4000 fault that says so.
MAX_QUERY_LENGTH = 100_000
MAX_CONDITIONS = 100
MAX_VALUES = 1_000
MAX_AMOUNT = Decimal("9999999999999.99")
MAX_PROJECTED = 100

_GRAMMAR = r"""
start: _SELECT projection _FROM NAME where? order? start_position? max_results?
projection: STAR -> select_all
          | _COUNT "(" STAR ")" -> select_count
          | prop ("," prop)* -> select_properties
where: _WHERE condition (junction condition)*
junction: AND | OR
condition: prop COMPARE value -> compare
         | prop _IN "(" value ("," value)* ")" -> in_list
         | prop _LIKE STRING -> like
prop: NAME ("." NAME)*
value: STRING -> string
     | NUMBER -> number
     | TRUE -> true
     | FALSE -> false
order: (_ORDERBY | _ORDER _BY) order_key ("," order_key)*
order_key: prop DIRECTION?
start_position: _STARTPOSITION NUMBER
max_results: _MAXRESULTS NUMBER

_SELECT: "select"i
_FROM: "from"i
_WHERE: "where"i
_COUNT: "count"i
_IN: "in"i
_LIKE: "like"i
_ORDERBY: "orderby"i
_ORDER: "order"i
_BY: "by"i
_STARTPOSITION: "startposition"i
_MAXRESULTS: "maxresults"i
AND: "and"i
OR: "or"i
TRUE: "true"i
FALSE: "false"i
DIRECTION: "asc"i | "desc"i
STAR: "*"
COMPARE: "<=" | ">=" | "!=" | "=" | "<" | ">"
STRING: /'(?:[^'\\]|\\.)*'/
NUMBER: /-?[0-9]+(\.[0-9]+)?/
NAME: /[A-Za-z_][A-Za-z0-9_]*/

%import common.WS
%ignore WS
"""

_PARSER = Lark(_GRAMMAR, parser="lalr", maybe_placeholders=False)

PropertyType = Literal["int", "name", "text", "bool", "money", "time"]

# Filterable Customer properties (lower-cased path) -> (canonical name, type, column).
PROPERTIES: dict[str, tuple[str, PropertyType, sa.ColumnElement[Any]]] = {
    "id": ("Id", "int", customers.c.id),
    "displayname": ("DisplayName", "name", customers.c.display_name_lower),
    "givenname": ("GivenName", "text", customers.c.given_name),
    "middlename": ("MiddleName", "text", customers.c.middle_name),
    "familyname": ("FamilyName", "text", customers.c.family_name),
    "companyname": ("CompanyName", "text", customers.c.company_name),
    "fullyqualifiedname": ("FullyQualifiedName", "text", customers.c.fully_qualified_name),
    "primaryemailaddr": ("PrimaryEmailAddr", "text", customers.c.primary_email),
    "primaryemailaddr.address": ("PrimaryEmailAddr", "text", customers.c.primary_email),
    "active": ("Active", "bool", customers.c.active),
    "job": ("Job", "bool", customers.c.job),
    "level": ("Level", "int", customers.c.level),
    "parentref": ("ParentRef", "int", customers.c.parent_id),
    "balance": ("Balance", "money", customers.c.balance_cents),
    "balancewithjobs": ("BalanceWithJobs", "money", customers.c.balance_with_jobs_cents),
    "metadata.createtime": ("MetaData.CreateTime", "time", customers.c.create_time),
    "metadata.lastupdatedtime": (
        "MetaData.LastUpdatedTime",
        "time",
        customers.c.last_updated_time,
    ),
}

Value = int | str | bool | datetime


@dataclass(frozen=True)
class Condition:
    """`prop op value(s)`; `prop` is a key of PROPERTIES, values already typed."""

    prop: str
    op: str  # = != < > <= >= in like
    values: tuple[Value, ...]


@dataclass(frozen=True)
class Query:
    count: bool
    properties: tuple[str, ...] | None  # SELECT p, q: lower-cased dotted paths; None is *
    entity: str
    conditions: tuple[Condition, ...]
    order: tuple[tuple[str, bool], ...]  # (prop, descending)
    start_position: int
    max_results: int

    @property
    def filters_active(self) -> bool:
        return any(c.prop == "active" for c in self.conditions)


def _unquote(token: str) -> str:
    body = token[1:-1]
    out: list[str] = []
    chars = iter(body)
    for char in chars:
        out.append(next(chars, "\\") if char == "\\" else char)
    return "".join(out)


@v_args(inline=True)
class _Tree(Transformer[Token, Any]):
    def prop(self, *names: Token) -> str:
        return ".".join(str(n) for n in names).lower()

    def string(self, token: Token) -> tuple[str, str]:
        return ("string", _unquote(str(token)))

    def number(self, token: Token) -> tuple[str, str]:
        return ("number", str(token))

    def true(self, _token: Token) -> tuple[str, str]:
        return ("bool", "true")

    def false(self, _token: Token) -> tuple[str, str]:
        return ("bool", "false")


def _typed(prop: str, raw: tuple[str, str], utc_offset: str) -> Value:
    name, kind, _column = PROPERTIES[prop]
    literal_kind, text = raw
    if kind == "bool":
        if literal_kind == "bool" or (
            literal_kind == "string" and text.lower() in ("true", "false")
        ):
            return text.lower() == "true"
        raise wire.query_error(f"{name} takes true or false, not {text!r}")
    try:
        if kind == "int":
            return parse_int(text, minimum=0, maximum=_MAX_INT, what=name)
        if kind == "money":
            return cents(parse_decimal(text, max_abs=MAX_AMOUNT, what=name))
        if kind == "time":
            return parse_datetime(text, default_zone=company_zone(utc_offset), what=name)
    except ParseError as exc:
        # A time without an offset is the company's local time, as QuickBooks prints it.
        raise wire.query_error(str(exc)) from None
    if literal_kind != "string":
        raise wire.query_error(f"{name} takes a quoted string, not {text}")
    return text


def _property(prop: str) -> str:
    if prop not in PROPERTIES:
        raise wire.query_error(f"property {prop!r} is not a queryable Customer property")
    return prop


def _number(token: Token, what: str) -> int:
    try:
        return parse_int(str(token), minimum=0, maximum=_MAX_INT, what=what)
    except ParseError:
        raise wire.query_error(f"{what} takes a positive whole number, not {token!s}") from None


def parse_query(text: str, utc_offset: str = "+00:00") -> Query:
    """The typed query, or a `QboFault` 4000 naming what is wrong (never another error)."""
    if not isinstance(text, str) or not text.strip():
        raise wire.query_error("the query is empty")
    if len(text) > MAX_QUERY_LENGTH:
        raise wire.query_error(f"the query is longer than {MAX_QUERY_LENGTH} characters")
    try:  # a NUL in a quoted value would reach the database (PostgreSQL refuses it)
        check_text(text, what="the query")
    except ParseError as exc:
        raise wire.query_error(str(exc)) from None
    try:
        tree = _Tree().transform(_PARSER.parse(text))
    except UnexpectedEOF:
        raise wire.query_error("the query ended too early") from None
    except UnexpectedCharacters as exc:
        position = exc.pos_in_stream or 0
        raise wire.query_error(
            f"Encountered {text[position : position + 20]!r} at line "
            f"{exc.line}, column {exc.column}"
        ) from None
    except UnexpectedToken as exc:
        raise wire.query_error(
            f"Encountered {str(exc.token)!r} at line {exc.line}, column {exc.column}"
        ) from None
    except LarkError as exc:  # any other parser failure is still the client's query
        raise wire.query_error(str(exc).splitlines()[0]) from None
    return _build(tree.children, utc_offset)


def _build(parts: list[Any], utc_offset: str) -> Query:
    projection, entity, *clauses = parts
    if str(entity).lower() != "customer":
        raise wire.query_error(f"entity {entity!s} is not supported by this sandbox")
    conditions: list[Condition] = []
    order: list[tuple[str, bool]] = []
    start, maximum = 1, DEFAULT_MAX_RESULTS
    for clause in clauses:
        if clause.data == "where":
            for item in clause.children:
                if getattr(item, "data", None) == "junction":
                    if str(item.children[0]).lower() == "or":
                        raise wire.query_error(
                            "OR is not supported: QuickBooks queries combine conditions with "
                            "AND only; use IN (...) or several queries"
                        )
                    continue
                conditions.append(_condition(item, utc_offset))
        elif clause.data == "order":
            for key in clause.children:
                prop = _property(key.children[0])
                direction = str(key.children[1]).lower() if len(key.children) > 1 else "asc"
                order.append((prop, direction == "desc"))
        elif clause.data == "start_position":
            start = _number(clause.children[0], "STARTPOSITION")
            if start < 1:
                raise wire.query_error("STARTPOSITION starts at 1")
        else:
            maximum = _number(clause.children[0], "MAXRESULTS")
            if maximum < 1:
                raise wire.query_error("MAXRESULTS must be at least 1")
    if len(conditions) > MAX_CONDITIONS:
        raise wire.query_error(f"a query takes at most {MAX_CONDITIONS} conditions")
    if sum(len(c.values) for c in conditions) > MAX_VALUES:
        raise wire.query_error(f"a query takes at most {MAX_VALUES} values")
    return Query(
        count=projection.data == "select_count",
        properties=_projection(projection),
        entity="Customer",
        conditions=tuple(conditions),
        order=tuple(order),
        start_position=start,
        max_results=min(maximum, MAX_RESULTS_CAP),
    )


# Properties a SELECT list may name: every Customer property QuickBooks returns.
_SELECTABLE = {
    name.lower()
    for name in (
        *wire.WRITABLE,
        *wire.READ_ONLY,
        "MetaData",
        "Metadata",
        "Balance",
        "BalanceWithJobs",
        "CurrencyRef",
        "PrintOnCheckName",
    )
}


def _projection(projection: Any) -> tuple[str, ...] | None:
    """The properties of `SELECT p, q`. QuickBooks returns only those, plus what it always
    returns (`Id`, `SyncToken`, `domain`, `sparse`); no published example was found, so
    that set is this sandbox's reading of Intuit's sparse objects."""
    if projection.data != "select_properties":
        return None
    names = tuple(str(child) for child in projection.children)
    if len(names) > MAX_PROJECTED:
        raise wire.query_error(f"a SELECT list takes at most {MAX_PROJECTED} properties")
    for name in names:
        if name.split(".", 1)[0] not in _SELECTABLE:
            raise wire.query_error(f"property {name!r} is not a Customer property")
    return names


ALWAYS_RETURNED = ("Id", "SyncToken", "domain")


def project(customer: dict[str, Any], properties: tuple[str, ...]) -> dict[str, Any]:
    """The rendered customer cut to the SELECT list (names matched ignoring case, dotted
    ones inside their object: `MetaData.LastUpdatedTime`)."""
    out: dict[str, Any] = {name: customer[name] for name in ALWAYS_RETURNED}
    out["sparse"] = True
    by_lower = {key.lower(): key for key in customer}
    for path in properties:
        head, _, rest = path.partition(".")
        key = by_lower.get(head)
        if key is None:
            continue
        value = customer[key]
        if not rest:
            out[key] = value
        elif isinstance(value, dict):
            inner = {k.lower(): k for k in value}.get(rest)
            if inner is not None:
                out.setdefault(key, {})[inner] = value[inner]
    return out


def _condition(item: Any, utc_offset: str) -> Condition:
    prop = _property(item.children[0])
    name, kind, _column = PROPERTIES[prop]
    if item.data == "compare":
        op = str(item.children[1])
        if kind == "bool" and op not in ("=", "!="):
            raise wire.query_error(f"{name} can only be compared with =")
        return Condition(prop, op, (_typed(prop, item.children[2], utc_offset),))
    if item.data == "in_list":
        values = tuple(_typed(prop, raw, utc_offset) for raw in item.children[1:])
        return Condition(prop, "in", values)
    if kind not in ("name", "text"):
        raise wire.query_error(f"LIKE works on text properties, not {name}")
    return Condition(prop, "like", (_unquote(str(item.children[1])),))


def _like_pattern(text: str) -> str:
    # Only % is a wildcard in QuickBooks; _ and our escape character are literal.
    escaped = text.replace("\\", "\\\\").replace("_", "\\_")
    return escaped.lower()


def _clause(condition: Condition) -> sa.ColumnElement[bool]:
    _name, kind, column = PROPERTIES[condition.prop]
    values: list[Any] = list(condition.values)
    target: sa.ColumnElement[Any] = column
    if kind == "name":
        values = [str(v).lower() for v in values]
    elif kind == "text":
        target = sa.func.lower(column)
        values = [str(v).lower() for v in values]
    if condition.op == "like":
        return target.like(_like_pattern(str(condition.values[0])), escape="\\")
    if condition.op == "in":
        return target.in_(values)
    value = values[0]
    comparisons: dict[str, Callable[[Any, Any], sa.ColumnElement[bool]]] = {
        "=": operator.eq,
        "!=": operator.ne,
        "<": operator.lt,
        ">": operator.gt,
        "<=": operator.le,
        ">=": operator.ge,
    }
    return comparisons[condition.op](target, value)


def where_clauses(query: Query, realm_id: str) -> list[sa.ColumnElement[bool]]:
    """The WHERE of a query: the realm, the conditions, and active-only by default."""
    clauses: list[sa.ColumnElement[bool]] = [customers.c.realm_id == realm_id]
    clauses.extend(_clause(c) for c in query.conditions)
    if not query.filters_active:
        clauses.append(customers.c.active == sa.true())
    return clauses


def rows_statement(query: Query, realm_id: str, dialect: str) -> sa.Select[Any]:
    """The page of rows the query asks for, in its order (Id breaks ties)."""
    keys: list[sa.ColumnElement[Any]] = []
    for prop, descending in query.order:
        _name, kind, column = PROPERTIES[prop]
        key: sa.ColumnElement[Any] = column
        if kind == "text":
            key = sa.func.lower(column)
        if kind in ("name", "text") and dialect == "postgresql":
            # Byte order on both databases, so a page boundary is the same everywhere.
            key = key.collate("C")
        keys.append(key.desc() if descending else key.asc())
    keys.append(customers.c.id.asc())
    return (
        sa.select(customers)
        .where(*where_clauses(query, realm_id))
        .order_by(*keys)
        .offset(query.start_position - 1)
        .limit(query.max_results)
    )


def count_statement(query: Query, realm_id: str) -> sa.Select[Any]:
    return sa.select(sa.func.count()).select_from(customers).where(*where_clauses(query, realm_id))
