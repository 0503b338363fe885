"""The `filterExpression` language of Intacct's query service, parsed by a real grammar.

Conditions are the 1-based positions of the `filters` array; `and` binds tighter than
`or`; parentheses group. `and` or `or` alone mean "all conditions" or "any condition".
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from lark import Lark, Token, Tree
from lark.exceptions import LarkError, UnexpectedInput

from ledgerbridge.providers.intacct.wire import IntacctError, bad_request

_GRAMMAR = r"""
?start: or_expr
?or_expr: and_expr (_OR and_expr)*
?and_expr: _atom (_AND _atom)*
_atom: condition | "(" or_expr ")"
condition: NUMBER
_OR: /or\b/i
_AND: /and\b/i
NUMBER: /[0-9]{1,9}/
%ignore /\s+/
"""
_PARSER = Lark(_GRAMMAR, parser="lalr", maybe_placeholders=False)

T = TypeVar("T")
MAX_LENGTH = 10_000
MAX_DEPTH = 32
"""Past these a `filterExpression` is refused: Sage publishes no figure; these keep the
parser and the SQL it builds far from recursion and database limits."""


@dataclass(frozen=True)
class Condition:
    number: int


@dataclass(frozen=True)
class AllOf:
    parts: tuple[Expression, ...]


@dataclass(frozen=True)
class AnyOf:
    parts: tuple[Expression, ...]


Expression = Condition | AllOf | AnyOf


def _error(expression: str, why: str) -> IntacctError:
    return bad_request(
        f"filterExpression {expression!r} is not valid: {why}",
        "/filterExpression",
        error_id="REST-1300",
    )


def parse_expression(expression: str | None, conditions: int) -> Expression | None:
    """The expression over `conditions` filters (None when there are none to combine).
    A 400 envelope for a malformed expression or a condition number with no filter."""
    text = (expression or "and").strip()
    if text.lower() in ("and", "or"):
        parts = tuple(Condition(n) for n in range(1, conditions + 1))
        if not parts:
            return None
        return AllOf(parts) if text.lower() == "and" else AnyOf(parts)
    if conditions == 0:
        raise _error(text, "there are no filters to combine")
    if len(text) > MAX_LENGTH:
        raise _error(text[:40] + "...", f"longer than {MAX_LENGTH} characters")
    depth = deepest = 0
    for char in text:
        depth += {"(": 1, ")": -1}.get(char, 0)
        deepest = max(deepest, depth)
    if deepest > MAX_DEPTH:
        raise _error(text[:40] + "...", f"nested deeper than {MAX_DEPTH} parentheses")
    try:
        tree = _PARSER.parse(text)
    except UnexpectedInput as exc:
        raise _error(text, f"unexpected input at position {exc.column}") from exc
    except LarkError as exc:  # pragma: no cover - any other parser failure is still a 400
        raise _error(text, str(exc)) from exc
    parsed = _build(tree)
    for number in _numbers(parsed):
        if not 1 <= number <= conditions:
            raise _error(
                text,
                f"condition {number} does not exist; there are {conditions} filters "
                f"(numbered 1 to {conditions})",
            )
    return parsed


def _build(node: Tree[Token] | Token) -> Expression:
    if isinstance(node, Token):  # pragma: no cover - the grammar wraps numbers in `condition`
        return Condition(int(node))
    if node.data == "condition":
        return Condition(int(str(node.children[0])))
    parts = tuple(_build(child) for child in node.children)
    return AllOf(parts) if node.data == "and_expr" else AnyOf(parts)


def _numbers(expression: Expression) -> list[int]:
    if isinstance(expression, Condition):
        return [expression.number]
    return [number for part in expression.parts for number in _numbers(part)]


def evaluate(
    expression: Expression,
    condition: Callable[[int], T],
    all_of: Callable[[list[T]], T],
    any_of: Callable[[list[T]], T],
) -> T:
    """Fold an expression: `condition(n)` for leaves, `all_of`/`any_of` for the operators.
    The SQL compiler folds into SQLAlchemy clauses, tests fold into Python booleans."""
    if isinstance(expression, Condition):
        return condition(expression.number)
    folded = [evaluate(part, condition, all_of, any_of) for part in expression.parts]
    return all_of(folded) if isinstance(expression, AllOf) else any_of(folded)
