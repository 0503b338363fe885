"""Intacct's query service (`POST /services/core/query`) over the sandbox table.

A request is validated into a `QueryRequest`, then compiled to one parameterised
SQLAlchemy statement: values only ever travel as bound parameters, never in SQL text.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass, replace
from datetime import date, timedelta
from decimal import Decimal
from functools import partial
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.sql.elements import ColumnElement

from ledgerbridge.parsing import INT32_MAX, MAX_MOMENT, MIN_MOMENT, check_text
from ledgerbridge.providers.intacct.sandbox import cache, dates
from ledgerbridge.providers.intacct.sandbox.entities import TOP_LEVEL, Scope
from ledgerbridge.providers.intacct.sandbox.expression import Expression, evaluate, parse_expression
from ledgerbridge.providers.intacct.sandbox.store import parents
from ledgerbridge.providers.intacct.sandbox.tables import (
    LIST_SEPARATOR,
    STRING_LENGTH,
    customers,
    entities,
)
from ledgerbridge.providers.intacct.sandbox.values import (
    CENT,
    parse_cents,
    parse_number,
    parse_whole,
    to_wire,
)
from ledgerbridge.providers.intacct.wire import (
    DEFAULT_PAGE_SIZE,
    FIELDS_BY_PATH,
    MAX_QUERY_SIZE,
    OBJECT_NAME,
    FieldKind,
    IntacctError,
    bad_request,
    href,
)

MAX_FILTERS = 200
MAX_FILTER_VALUES = 1_000

AGGREGATES = ("count", "avg", "sum", "min", "max")
COMPARISONS = ("$eq", "$ne", "$lt", "$lte", "$gt", "$gte")
STRING_OPERATORS = (
    "$contains",
    "$notContains",
    "$startsWith",
    "$notStartsWith",
    "$endsWith",
    "$notEndsWith",
)
OPERATORS = (*COMPARISONS, "$in", "$notIn", "$between", "$notBetween", *STRING_OPERATORS, "$has")
NEGATIONS = {
    "$ne": "$eq",
    "$notIn": "$in",
    "$notBetween": "$between",
    "$notContains": "$contains",
    "$notStartsWith": "$startsWith",
    "$notEndsWith": "$endsWith",
}
_NUMERIC: tuple[FieldKind, ...] = ("integer", "number", "money", "decimal", "key")
_TEXT: tuple[FieldKind, ...] = ("string",)
_BODY_KEYS = {
    "object",
    "fields",
    "filters",
    "filterExpression",
    "filterParameters",
    "orderBy",
    "start",
    "size",
}
_PARAMETERS = {"asOfDate", "includeHierarchyFields", "caseSensitiveComparison", "includePrivate"}
# What `includeHierarchyFields` adds to each object: where it sits in the multi-entity
# structure (its owning entity; null members at the top level, as `entity-ref` documents).
HIERARCHY_FIELDS = ("entity.key", "entity.id", "entity.name")
Join = Literal["parent", "entity"]


@dataclass(frozen=True)
class Column:
    """A field as the query sees it: its SQL expression, kind, and how it is printed."""

    path: str
    kind: FieldKind
    expression: ColumnElement[Any]
    join: Join | None = None  # the related table the field is read from
    filterable: bool = True
    printer: Callable[[Any], Any] | None = None

    def print(self, value: Any) -> Any:
        return self.printer(value) if self.printer else to_wire(self.kind, value)


def _target(*parts: object) -> str:
    return "/" + "/".join(str(part) for part in parts)


def resolve(path: Any, target: str) -> Column:
    """The column of a dotted field name; 400 when the customer object has no such field."""
    if not isinstance(path, str):
        raise bad_request(f"{target} must be a field name", target)
    field = FIELDS_BY_PATH.get(path)
    if field is not None:
        return Column(path, field.kind, customers.c[field.column])
    if path in ("parent.id", "parent.name"):
        return Column(path, "string", parents.c[path.split(".")[1]], join="parent")
    if path == "entity.key":
        return Column(path, "key", customers.c.entity_key)
    if path in ("entity.id", "entity.name"):
        # Read through an outer join, so empty at the top level although the entity table's
        # columns are NOT NULL: coerced, the expression no longer claims to be never empty
        # (which would drop the NULLS clause of its ORDER BY and the bookmark's null case).
        owner = sa.type_coerce(entities.c[path.split(".")[1]], sa.String())
        return Column(path, "string", owner, join="entity")
    if path in ("href", "parent.href"):
        source = customers.c.key if path == "href" else customers.c.parent_key
        return Column(path, "key", source, filterable=False, printer=_href)
    raise bad_request(
        f"{path!r} is not a valid field of {OBJECT_NAME}", target, error_id="REST-1043"
    )


def _href(key: Any) -> str | None:
    return None if key is None else href(key)


@dataclass(frozen=True)
class Aggregate:
    name: str  # as asked: "sum:totalDue"
    function: str
    column: Column


@dataclass(frozen=True)
class QueryRequest:
    """A validated query: what to select, filter, order and which page."""

    fields: list[Column | Aggregate]
    filters: list[Any]
    expression: Expression | None
    case_sensitive: bool
    as_of: date | None
    order_by: list[tuple[Column, bool]]
    start: int
    size: int
    include_private: bool = False


def _integer(body: dict[str, Any], name: str, default: int, low: int, high: int | None) -> int:
    value = body.get(name)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int):
        raise bad_request(f"{name} must be an integer", _target(name))
    high = INT32_MAX if high is None else high
    if value < low or value > high:
        limit = f"between {low} and {high}"
        raise bad_request(f"{name} must be {limit}, not {value}", _target(name))
    return value


def _list(body: dict[str, Any], name: str) -> list[Any]:
    value = body.get(name)
    if value is None:
        return []
    if not isinstance(value, list):
        raise bad_request(f"{name} must be an array", _target(name))
    return value


def _field_or_aggregate(raw: Any, index: int) -> Column | Aggregate:
    target = _target("fields", index)
    if isinstance(raw, str) and ":" in raw:
        function, _, path = raw.partition(":")
        if function not in AGGREGATES:
            raise bad_request(
                f"{function!r} is not an aggregate function; use one of {', '.join(AGGREGATES)}",
                target,
            )
        column = resolve(path, target)
        if not column.filterable:
            raise bad_request(f"{path} cannot be aggregated", target)
        if function in ("sum", "avg") and column.kind not in _NUMERIC:
            raise bad_request(f"{function} needs a numeric field; {path} is not one", target)
        return Aggregate(raw, function, column)
    return resolve(raw, target)


def _check_size(filters: list[Any]) -> None:
    """Refuse a query past the limits: Sage publishes none, so these are the sandbox's,
    far above real queries and below SQLite's own (a tree of 1,000 terms, 32,766 values)."""
    if len(filters) > MAX_FILTERS:
        raise bad_request(f"a query takes at most {MAX_FILTERS} filters", "/filters")
    values = sum(
        len(operand_value)
        for item in filters
        if isinstance(item, dict)
        for operand in item.values()
        if isinstance(operand, dict)
        for operand_value in operand.values()
        if isinstance(operand_value, list)
    )
    if values > MAX_FILTER_VALUES:
        raise bad_request(f"a query's filters take at most {MAX_FILTER_VALUES} values", "/filters")


def parse_request(body: Any) -> QueryRequest:
    """Validate a query body; a 400 envelope names the first thing that is wrong."""
    if not isinstance(body, dict) or not body:
        raise IntacctError(
            400,
            "A query requires a payload",
            error_id="REST-1028",
            message_id="IA.REQUEST_REQUIRES_A_PAYLOAD",
        )
    unknown = sorted(set(body) - _BODY_KEYS)
    if unknown:
        raise bad_request(f"{unknown[0]} is not a valid query property", _target(unknown[0]))
    if body.get("object") != OBJECT_NAME:
        raise bad_request(
            f"object must be {OBJECT_NAME!r}; {body.get('object')!r} is not served here",
            "/object",
        )
    raw_fields = _list(body, "fields")
    if not raw_fields:
        raise bad_request("fields must list at least one field", "/fields")
    selected: dict[str, Column | Aggregate] = {}
    for index, raw in enumerate(raw_fields):
        item = _field_or_aggregate(raw, index)
        selected.setdefault(item.name if isinstance(item, Aggregate) else item.path, item)
    filters = _list(body, "filters")
    _check_size(filters)
    expression_text = body.get("filterExpression")
    if expression_text is not None and not isinstance(expression_text, str):
        raise bad_request("filterExpression must be a string", "/filterExpression")
    expression = parse_expression(expression_text, len(filters))
    parameters = body.get("filterParameters") or {}
    if not isinstance(parameters, dict):
        raise bad_request("filterParameters must be an object", "/filterParameters")
    for name, value in parameters.items():
        if name not in _PARAMETERS:
            raise bad_request(
                f"{name} is not a filter parameter", _target("filterParameters", name)
            )
        if name != "asOfDate" and not isinstance(value, bool):
            raise bad_request(f"{name} must be true or false", _target("filterParameters", name))
    as_of: date | None = None
    if parameters.get("asOfDate") is not None:
        try:
            as_of = date.fromisoformat(str(parameters["asOfDate"]))
            if not (
                MIN_MOMENT.date() + timedelta(days=400)
                < as_of
                < MAX_MOMENT.date() - timedelta(days=400)
            ):
                raise ValueError("out of range")  # macros reach a year or more around it
        except ValueError as exc:
            target = "/filterParameters/asOfDate"
            raise bad_request("asOfDate must be a date (YYYY-MM-DD)", target) from exc
    if parameters.get("includeHierarchyFields") is True:
        _add_hierarchy_fields(selected)
    order_by: list[tuple[Column, bool]] = []
    for index, item in enumerate(_list(body, "orderBy")):
        target = _target("orderBy", index)
        if not isinstance(item, dict) or len(item) != 1:
            raise bad_request('each orderBy item must be {"field": "asc" | "desc"}', target)
        ((path, direction),) = item.items()
        if direction not in ("asc", "desc"):
            raise bad_request(f"order of {path} must be asc or desc", target)
        order_by.append((resolve(path, target), direction == "desc"))
    return QueryRequest(
        fields=list(selected.values()),
        filters=filters,
        expression=expression,
        case_sensitive=parameters.get("caseSensitiveComparison", True) is not False,
        as_of=as_of,
        order_by=order_by,
        start=_integer(body, "start", 1, 1, None),
        size=_integer(body, "size", DEFAULT_PAGE_SIZE, 1, MAX_QUERY_SIZE),
        include_private=parameters.get("includePrivate") is True,
    )


def _add_hierarchy_fields(selected: dict[str, Column | Aggregate]) -> None:
    """Add the hierarchy fields to each object of the answer. An aggregate query answers
    with groups, not objects, so it gets none: adding them would change its grouping."""
    if any(isinstance(item, Aggregate) for item in selected.values()):
        return
    for path in HIERARCHY_FIELDS:
        selected.setdefault(path, resolve(path, "/filterParameters/includeHierarchyFields"))


class _Compiler:
    """Turns filters into SQL clauses for one request."""

    def __init__(self, request: QueryRequest, today: date, dialect: str) -> None:
        self.request = request
        self.today = request.as_of or today
        self.dialect = dialect
        self.joins: set[Join] = set()

    def where(self) -> ColumnElement[bool] | None:
        if self.request.expression is None:
            return None
        clauses = [self.condition(item, index) for index, item in enumerate(self.request.filters)]
        return evaluate(
            self.request.expression,
            lambda number: clauses[number - 1],
            lambda parts: sa.and_(*parts),
            lambda parts: sa.or_(*parts),
        )

    def condition(self, item: Any, index: int) -> ColumnElement[bool]:
        target = _target("filters", index)
        if not isinstance(item, dict) or len(item) != 1:
            raise bad_request("each filter must be one operator object", target)
        ((operator, operand),) = item.items()
        if operator not in OPERATORS:
            raise bad_request(
                f"{operator!r} is not a filter operator; use one of {', '.join(OPERATORS)}",
                target,
            )
        target = _target("filters", index, operator)
        if not isinstance(operand, dict) or len(operand) != 1:
            raise bad_request(f"{operator} takes one field and its value", target)
        ((path, value),) = operand.items()
        column = resolve(path, target)
        if not column.filterable:
            raise bad_request(f"{path} cannot be used in filters", target)
        if column.join is not None:
            self.joins.add(column.join)
        positive = NEGATIONS.get(operator)
        if positive is None:
            return self._positive(operator, column, value, target)
        if operator == "$ne" and value is None:
            return column.expression.is_not(None)
        # A negated condition also matches empty fields ("not Acme" includes no name).
        clause = self._positive(positive, column, value, target)
        return sa.not_(sa.func.coalesce(clause, sa.false()))

    def _text(self, column: Column) -> ColumnElement[Any]:
        if column.kind in _TEXT and not self.request.case_sensitive:
            return sa.func.lower(column.expression)
        return column.expression

    def _positive(
        self, operator: str, column: Column, value: Any, target: str
    ) -> ColumnElement[bool]:
        kind = column.kind
        if operator == "$eq" and value is None:
            return column.expression.is_(None)
        if operator == "$has":
            if kind != "string_list" or not isinstance(value, str):
                raise bad_request(f"$has needs a list field and a string; {column.path}", target)
            pattern = f"%{LIST_SEPARATOR}{_escape_like(value)}{LIST_SEPARATOR}%"
            return column.expression.like(pattern, escape="\\")
        if kind == "string_list":
            raise bad_request(f"{column.path} is a list; filter it with $has", target)
        if operator in STRING_OPERATORS:
            if kind not in _TEXT:
                raise bad_request(f"{operator} applies to text fields, not {column.path}", target)
            return self._string(operator, column, self._value(column, value, target))
        if operator in ("$in", "$between"):
            if not isinstance(value, list) or not value:
                raise bad_request(f"{operator} takes a non-empty array", target)
            if operator == "$between" and len(value) != 2:
                raise bad_request("$between takes two values: [low, high]", target)
            if kind == "boolean" and operator == "$between":
                raise bad_request(f"$between does not apply to {column.path}", target)
        if kind in ("date", "datetime"):
            return self._dates(operator, column, value, target)
        if kind == "boolean" and operator not in ("$eq", "$in"):
            raise bad_request(
                f"{operator} does not apply to true/false field {column.path}", target
            )
        expr = self._text(column)
        if operator == "$in":
            return expr.in_([self._value(column, item, target) for item in value])
        if operator == "$between":
            low, high = (self._value(column, item, target) for item in value)
            return sa.and_(expr >= low, expr <= high)
        bound = self._value(column, value, target)
        comparisons: dict[str, Callable[[Any], ColumnElement[bool]]] = {
            "$eq": expr.__eq__,
            "$lt": expr.__lt__,
            "$lte": expr.__le__,
            "$gt": expr.__gt__,
            "$gte": expr.__ge__,
        }
        return comparisons[operator](bound)

    def _string(self, operator: str, column: Column, value: str) -> ColumnElement[bool]:
        expr = self._text(column)
        length = len(value)
        if operator == "$contains":
            # LIKE ignores case on SQLite; a position search is case-sensitive on both.
            position = sa.func.instr if self.dialect == "sqlite" else sa.func.strpos
            found: ColumnElement[bool] = position(expr, value) > 0
            return found
        if operator == "$startsWith":
            return sa.func.substr(expr, 1, length) == value
        start = sa.func.length(expr) - length + 1
        return sa.and_(sa.func.length(expr) >= length, sa.func.substr(expr, start) == value)

    def _value(self, column: Column, raw: Any, target: str) -> Any:
        """A filter value converted to what the column stores; 400 when it does not fit."""
        kind = column.kind
        try:
            if kind == "string" and isinstance(raw, str):
                check_text(raw, max_length=STRING_LENGTH)
                return raw if self.request.case_sensitive else raw.lower()
            if kind == "boolean":
                if isinstance(raw, bool):
                    return raw
                if raw in ("true", "false"):
                    return raw == "true"
            if kind in ("integer", "key"):
                return parse_whole(raw, kind)
            if kind == "number":
                return parse_number(raw)
            if kind in ("money", "decimal"):
                return parse_cents(raw)
        except ValueError:
            pass
        raise bad_request(f"{raw!r} is not a valid value for {column.path} ({kind})", target)

    def _dates(self, operator: str, column: Column, value: Any, target: str) -> ColumnElement[bool]:
        def period(raw: Any) -> tuple[Any, Any]:
            if not isinstance(raw, str):
                raise bad_request(f"{raw!r} is not a date for {column.path}", target)
            try:
                if column.kind == "date":
                    return dates.date_period(raw, self.today)
                return dates.datetime_period(raw, self.today)
            except ValueError as exc:
                raise bad_request(
                    f"{raw!r} is not a date, a timestamp or one of {', '.join(dates.MACROS)}",
                    target,
                ) from exc

        expr = column.expression
        if operator in ("$in", "$between"):
            periods = [period(item) for item in value]
            if operator == "$between":
                return sa.and_(expr >= periods[0][0], expr < periods[1][1])
            return sa.or_(*(sa.and_(expr >= low, expr < high) for low, high in periods))
        low, high = period(value)
        # A value is a period: "< priorMonth" is before it began, "<= priorMonth" before it ended.
        comparisons: dict[str, ColumnElement[bool]] = {
            "$eq": sa.and_(expr >= low, expr < high),
            "$lt": expr < low,
            "$lte": expr < high,
            "$gt": expr >= high,
            "$gte": expr >= low,
        }
        return comparisons[operator]


def _escape_like(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def run_query(
    connection: Connection,
    tenant_id: str,
    request: QueryRequest,
    today: date,
    scope: Scope = TOP_LEVEL,
) -> dict[str, Any]:
    """Execute a validated query for one company: the `ia::result` and `ia::meta` body,
    over the customers `scope` can see (with `includePrivate`, at the top level: all).

    `totalCount` is exact but costs a pass over every match, so it is remembered under the
    company's data version (see `cache.py`); so are bookmarks, the sort values of rows at
    known positions, which let a deep page seek instead of skipping every row before it.
    """
    compiler = _Compiler(request, today, connection.dialect.name)
    condition = compiler.where()
    plain = [item for item in request.fields if isinstance(item, Column)]
    aggregates = [item for item in request.fields if isinstance(item, Aggregate)]
    joins = compiler.joins | {
        column.join
        for column in [
            *(item.column if isinstance(item, Aggregate) else item for item in request.fields),
            *(column for column, _ in request.order_by),
        ]
        if column.join is not None
    }
    source = _joined(joins, tenant_id)
    where = [customers.c.tenant_id == tenant_id]
    visible = scope.visible(include_private=request.include_private)
    if visible is not None:
        where.append(visible)
    if condition is not None:
        where.append(condition)

    selected: list[ColumnElement[Any]] = []
    for index, item in enumerate(request.fields):
        if isinstance(item, Aggregate):
            function = getattr(sa.func, item.function)
            selected.append(function(item.column.expression).label(f"f{index}"))
        else:
            selected.append(item.expression.label(f"f{index}"))
    memory = _Memory(connection, tenant_id)
    if aggregates:
        statement = sa.select(*selected).select_from(source).where(*where)
        group = [item.expression for item in plain]
        statement = statement.group_by(*group)
        grouped_paths = {item.path for item in plain}
        for column, _descending in request.order_by:
            if column.path not in grouped_paths:
                raise bad_request(
                    f"with aggregates, orderBy can only use the grouped fields; "
                    f"{column.path} is not one",
                    "/orderBy",
                )
        order = [(column.expression, descending) for column, descending in request.order_by]
        order = order or [(item.expression, False) for item in plain]
        total = memory.count(sa.select(sa.func.count()).select_from(statement.subquery()))
        statement = statement.order_by(*_order_by(order))
        rows = connection.execute(statement.offset(request.start - 1).limit(request.size)).all()
        memory.keep()
    else:
        # Each join is to a primary key (at most one row a customer), so only those the
        # condition reads change what is counted: the count joins no more, and is answered
        # from an index (on a million customers, with `parent.id` among the fields, a
        # count joined to every parent read the whole table: 2 s a page, not 0.05).
        count = (
            sa.select(sa.func.count()).select_from(_joined(compiler.joins, tenant_id)).where(*where)
        )
        total = memory.count(count)
        order = [(column.expression, descending) for column, descending in request.order_by]
        order.append((customers.c.key, False))
        page = _Page(memory, request, source, where, selected, order)
        rows = page.read(memory.bookmarks(count, request.order_by), total)
    result = [
        {
            (item.name if isinstance(item, Aggregate) else item.path): _print(item, row[index])
            for index, item in enumerate(request.fields)
        }
        for row in rows
    ]
    end = request.start + request.size
    return {
        "ia::result": result,
        "ia::meta": {
            "totalCount": total,
            "start": request.start,
            "pageSize": request.size,
            "next": end if end <= total else None,
            "previous": max(1, request.start - request.size) if request.start > 1 else None,
        },
    }


_LIST_QUERY = parse_request(
    {"object": OBJECT_NAME, "fields": ["key", "id", "href"], "orderBy": [{"key": "asc"}]}
)
"""The query `list_page` runs, validated once; each page sets its `start` and `size`."""


def list_page(
    connection: Connection,
    tenant_id: str,
    start: int,
    size: int,
    today: date,
    scope: Scope = TOP_LEVEL,
) -> tuple[list[dict[str, Any]], int]:
    """`GET .../customer`'s page, `{key, id, href}` in key order, and the count the scope
    can see: a query like any other, so the list keeps its count and bookmarks as queries
    do. Counted and skipped afresh on every page, a page of 100 of a million customers took
    32-75 ms, and listing them all about 9 minutes."""
    request = replace(_LIST_QUERY, start=start, size=size)
    answer = run_query(connection, tenant_id, request, today, scope)
    return answer["ia::result"], answer["ia::meta"]["totalCount"]


def _joined(joins: set[Join], tenant_id: str) -> sa.FromClause:
    """The customers with their parent and entity outer-joined as `joins` asks: each by its
    primary key, within the company."""
    source: sa.FromClause = customers
    if "parent" in joins:
        source = source.outerjoin(
            parents,
            sa.and_(parents.c.key == customers.c.parent_key, parents.c.tenant_id == tenant_id),
        )
    if "entity" in joins:
        source = source.outerjoin(
            entities,
            sa.and_(entities.c.key == customers.c.entity_key, entities.c.tenant_id == tenant_id),
        )
    return source


Order = list[tuple[ColumnElement[Any], bool]]  # (expression, descending)

# Columns that lead an index after the company: a page ordered by one can seek to a bookmark.
_INDEXED = frozenset(
    columns[1].name
    for columns in (list(index.columns) for index in customers.indexes)
    if len(columns) > 1 and columns[0] is customers.c.tenant_id
)


class _Memory:
    """The cache as one request sees it: read at the company's version when the request
    began, written only if that version still holds when it ends (on PostgreSQL a write can
    commit between two statements of one request; on SQLite the request is one snapshot)."""

    def __init__(self, connection: Connection, tenant_id: str) -> None:
        self.connection = connection
        self.tenant_id = tenant_id
        self.version = cache.current(connection, tenant_id)
        self._pending: list[Callable[[], object]] = []
        self._held: bool | None = None
        self._keyed: tuple[sa.Select[Any], tuple[Hashable, str]] | None = None

    def _key(self, statement: sa.Select[Any]) -> tuple[Hashable, str]:
        """`cache.statement_key` of `statement`, made once a request: the count and the
        bookmarks are kept under the same statement."""
        if self._keyed is None or self._keyed[0] is not statement:
            self._keyed = (statement, cache.statement_key(self.connection, statement))
        return self._keyed[1]

    def count(self, statement: sa.Select[Any]) -> int:
        """The answer of a COUNT statement, remembered."""
        if self.version is None:
            return int(self.connection.execute(statement).scalar_one())
        key = (self.tenant_id, self.version, *self._key(statement))
        known = cache.COUNTS.get(key)
        if known is not None:
            return known
        total = int(self.connection.execute(statement).scalar_one())
        self._pending.append(partial(cache.COUNTS.put, key, total))
        return total

    def bookmarks(
        self, count: sa.Select[Any], order: list[tuple[Column, bool]]
    ) -> cache.Bookmarks | None:
        """The bookmarks of the query whose matches `count` counts, in this order."""
        if self.version is None:
            return None
        key = (
            self.tenant_id,
            self.version,
            *self._key(count),
            tuple((column.path, descending) for column, descending in order),
        )
        return cache.BOOKMARKS.get(key) or cache.BOOKMARKS.put(key, cache.Bookmarks())

    def has_nulls(self, column: sa.Column[Any]) -> bool:
        """Whether some customer of the company has `column` empty, remembered."""
        if self.version is None:
            return True
        key = (self.tenant_id, self.version, column.name)
        known = cache.HAS_NULLS.get(key)
        if known is not None:
            return known
        found = self.connection.execute(
            sa.select(customers.c.key)
            .where(customers.c.tenant_id == self.tenant_id, column.is_(None))
            .limit(1)
        ).first()
        self._pending.append(partial(cache.HAS_NULLS.put, key, found is not None))
        return found is not None

    def remember(self, write: Callable[[], object]) -> None:
        self._pending.append(write)

    def held(self) -> bool:
        """Whether the company is still at the version the request began with; asked once
        the request has read what it answers with."""
        if self._held is None:
            self._held = (
                self.version is not None
                and cache.current(self.connection, self.tenant_id) == self.version
            )
        return self._held

    def keep(self) -> None:
        """Store what the request learned, if its version held."""
        if self._pending and self.held():
            for write in self._pending:
                write()
        self._pending.clear()


class _Page:
    """One page of a plain (not aggregated) query, ordered by `order` (ending with `key`,
    which makes the order total). Reading it costs the rows skipped to reach it, so it is
    read from the closest bookmark at or before it, or backwards from the last match (the
    order reversed: `totalCount` says where the end is), whichever skips fewer."""

    def __init__(
        self,
        memory: _Memory,
        request: QueryRequest,
        source: sa.FromClause,
        where: list[ColumnElement[bool]],
        selected: list[ColumnElement[Any]],
        order: Order,
    ) -> None:
        self.memory = memory
        self.request = request
        self.source = source
        self.where = where
        self.selected = selected
        self.order = order

    def read(self, bookmarks: cache.Bookmarks | None, total: int) -> list[sa.Row[Any]]:
        before = self.request.start - 1  # matches before the page
        found = bookmarks.nearest(before) if bookmarks is not None else None
        from_start = before - (found[0] if found is not None else 0)
        backwards = total - before < from_start
        if backwards:
            rows, lead = self._backwards(total)
        else:
            rows, lead = self._forwards(found)
        if (backwards or found is not None) and not self.memory.held():
            # What the page was found with (a bookmark, the count) may predate a write
            # that landed during this request: skip the plain way, and remember nothing.
            rows, lead = self._forwards(None)
            bookmarks = None
        width = len(self.selected)
        if bookmarks is not None:
            if lead is not None:
                self.memory.remember(partial(bookmarks.add, before, tuple(lead[width:])))
            if rows:
                last = tuple(rows[-1][width:])
                self.memory.remember(partial(bookmarks.add, before + len(rows), last))
        self.memory.keep()
        return rows

    def _select(self, where: list[ColumnElement[bool]], order: Order) -> sa.Select[Any]:
        """The fields, then the sort values (bookmarks are made of them)."""
        hidden = [expression.label(f"o{index}") for index, (expression, _) in enumerate(order)]
        return (
            sa.select(*self.selected, *hidden)
            .select_from(self.source)
            .where(*where)
            .order_by(*_order_by(order))
        )

    def _forwards(
        self, found: tuple[int, tuple[Any, ...]] | None
    ) -> tuple[list[sa.Row[Any]], sa.Row[Any] | None]:
        """The page's rows, and the row just before it (a bookmark to keep) when read."""
        where = list(self.where)
        skip = self.request.start - 1
        if found is not None:
            position, values = found
            where += self._after(values)
            skip -= position
        lead = 1 if skip > 0 else 0
        statement = self._select(where, self.order).offset(skip - lead)
        rows = list(self.memory.connection.execute(statement.limit(self.request.size + lead)))
        if lead and rows:
            return rows[1:], rows[0]
        return rows, None

    def _backwards(self, total: int) -> tuple[list[sa.Row[Any]], sa.Row[Any] | None]:
        """The same, read from the last match in the reversed order."""
        first = self.request.start
        last = min(first + self.request.size - 1, total)
        if last < first:
            return [], None
        lead = 1 if first > 1 else 0
        reverse = [(expression, not descending) for expression, descending in self.order]
        statement = self._select(self.where, reverse).offset(total - last)
        rows = list(self.memory.connection.execute(statement.limit(last - first + 1 + lead)))
        rows.reverse()
        if lead and rows:
            return rows[1:], rows[0]
        return rows, None

    def _after(self, values: tuple[Any, ...]) -> list[ColumnElement[bool]]:
        """Conditions for the rows after a bookmark: the exact lexicographic comparison,
        plus a plain bound on the first sort column when that is exact, so the database
        can start its index range at the bookmark."""
        clause: ColumnElement[bool] | None = None
        for (expression, descending), value in reversed(list(zip(self.order, values, strict=True))):
            # Empty values sort last going up and first going down.
            if value is None:
                beyond = expression.is_not(None) if descending else sa.false()
                tie = expression.is_(None)
            else:
                beyond = expression < value if descending else expression > value
                if not descending and _nullable(expression):
                    beyond = sa.or_(beyond, expression.is_(None))
                tie = expression == value
            clause = beyond if clause is None else sa.or_(beyond, sa.and_(tie, clause))
        assert clause is not None  # the order always ends with `key`
        conditions = [clause]
        (first, descending), value = self.order[0], values[0]
        if value is not None and descending:
            conditions.append(first <= value)
        elif value is not None and self._never_empty(first):
            conditions.append(first >= value)
        return conditions

    def _never_empty(self, expression: ColumnElement[Any]) -> bool:
        if not _nullable(expression):
            return True
        table = getattr(expression, "table", None)
        if table is not customers or not isinstance(expression, sa.Column):
            return False
        return expression.name in _INDEXED and not self.memory.has_nulls(expression)


def _nullable(expression: ColumnElement[Any]) -> bool:
    return bool(getattr(expression, "nullable", True))


def _order_by(order: Order) -> list[ColumnElement[Any]]:
    """ORDER BY terms. Nulls sort as the largest value, as Intacct's database does; a
    column that cannot be empty gets no NULLS clause, so an index can serve it as is."""
    terms: list[ColumnElement[Any]] = []
    for expression, descending in order:
        term = expression.desc() if descending else expression.asc()
        if _nullable(expression):
            term = term.nulls_first() if descending else term.nulls_last()
        terms.append(term)
    return terms


def _print(item: Column | Aggregate, value: Any) -> Any:
    if isinstance(item, Column):
        return item.print(value)
    if item.function == "count":
        return int(value or 0)
    if value is None:
        return None
    kind = item.column.kind
    if item.function == "avg":
        if kind in ("money", "decimal"):
            amount = (Decimal(str(value)) / 100).quantize(CENT)
            return str(amount) if kind == "decimal" else float(amount)
        return float(value)
    if kind in ("money", "decimal", "integer", "key"):
        value = int(value)
    return item.column.print(value)
