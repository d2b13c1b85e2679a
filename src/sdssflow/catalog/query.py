"""Selection queries as data: a small expression language checked with ``ast``, run with numpy.

A query such as ``exptime >= 900 and airmass < 1.3 and quality not in ["bad", "test"]``
is parsed with :func:`ast.parse` (``mode="eval"``) and every node is checked against a
short grammar; nothing is ever handed to ``eval``, ``pandas.eval`` or
``DataFrame.query``. Allowed:

- column names of the table (the exposure-catalog columns of ``config/README.md``);
- numbers, strings, ``True``/``False``;
- comparisons ``== != < <= > >=`` (chains such as ``1 < airmass < 2`` too); strings
  support only ``==`` and ``!=``;
- ``x in [...]`` / ``x not in (...)`` with a list or tuple of literals;
- ``and``, ``or``, ``not``; pandas' ``&``, ``|``, ``~`` are read as these words (with
  their precedence, as ``pandas.eval`` does);
- arithmetic ``+ - * / // % **`` and unary ``-``/``+`` on numbers;
- the functions of :data:`FUNCTIONS`: ``abs``, ``sqrt``, ``log10`` (numbers to numbers)
  and ``isnan`` (number to boolean).

Everything else (``@`` variables, attribute access, subscripts, any other call,
lambdas, comprehensions ...) is refused, and so is a query whose value is not a boolean
per row. The type of every sub-expression is inferred from the column dtypes before
anything is evaluated, so a mistake is found on an empty table at configuration time.
"""

from __future__ import annotations

import ast
import io
import tokenize
from collections.abc import Mapping

import numpy as np
import pandas as pd

__all__ = ["FUNCTIONS", "MAX_QUERY_LENGTH", "QueryError", "parse_query", "evaluate_query"]

#: Named functions a query may call: name -> (numpy function, result kind).
FUNCTIONS = {
    "abs": (np.abs, "number"),
    "sqrt": (np.sqrt, "number"),
    "log10": (np.log10, "number"),
    "isnan": (np.isnan, "bool"),
}

#: Longest accepted query, characters.
MAX_QUERY_LENGTH = 2000

_ARITHMETIC = {
    ast.Add: np.add,
    ast.Sub: np.subtract,
    ast.Mult: np.multiply,
    ast.Div: np.true_divide,
    ast.FloorDiv: np.floor_divide,
    ast.Mod: np.mod,
    ast.Pow: np.power,
}
_ORDER = {ast.Lt: np.less, ast.LtE: np.less_equal, ast.Gt: np.greater, ast.GtE: np.greater_equal}
_EQUALITY = {ast.Eq: np.equal, ast.NotEq: np.not_equal}


class QueryError(ValueError):
    """A query outside the grammar, on unknown columns, or not boolean."""


def _kind_of_dtype(dtype) -> str:
    if pd.api.types.is_bool_dtype(dtype):
        return "bool"
    if pd.api.types.is_numeric_dtype(dtype):
        return "number"
    return "string"


def _literal_kind(value) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    raise QueryError(f"literal {value!r} of type {type(value).__name__} is not allowed")


def _describe(node: ast.AST) -> str:
    """The source text of a node, for messages."""
    return ast.unparse(node)


_PANDAS_WORDS = {"&": "and", "|": "or", "~": "not"}


def _normalise(query: str) -> str:
    """Refuse ``@`` (pandas' local-variable references) and backticks; spell ``& | ~`` as words.

    As in ``pandas.eval``, ``&`` and ``|`` take the precedence of ``and`` and ``or``, so
    ``a < 1 & b > 2`` means ``(a < 1) and (b > 2)``.
    """
    if "`" in query:
        raise QueryError("backtick-quoted names are not allowed; use the plain column name")
    tokens = []
    try:
        for tok in tokenize.generate_tokens(io.StringIO(query).readline):
            if tok.string in ("@", "@="):
                raise QueryError("'@' (a reference to a Python variable) is not allowed")
            if tok.type == tokenize.OP and tok.string in _PANDAS_WORDS:
                tokens.append((tokenize.NAME, _PANDAS_WORDS[tok.string]))
            else:
                tokens.append((tok.type, tok.string))
    except (tokenize.TokenError, SyntaxError) as err:
        raise QueryError(f"syntax error: {err}") from None
    return tokenize.untokenize(tokens)


class _Checker:
    """Infer the kind (number, string, bool) of every node, refusing what is not allowed."""

    def __init__(self, kinds: Mapping[str, str]):
        self.kinds = kinds

    def kind(self, node: ast.AST) -> str:
        method = getattr(self, "_" + type(node).__name__, None)
        if method is None:
            raise QueryError(f"{_describe(node)!r}: {self._what(node)} is not allowed")
        return method(node)

    @staticmethod
    def _what(node: ast.AST) -> str:
        return {
            "Attribute": "attribute access",
            "Subscript": "subscript",
            "Call": "a call",
            "Lambda": "lambda",
            "NamedExpr": "assignment",
            "IfExp": "conditional expression",
            "ListComp": "comprehension",
            "GeneratorExp": "comprehension",
            "DictComp": "comprehension",
            "SetComp": "comprehension",
            "Dict": "dict",
            "Set": "set",
            "List": "a list outside 'in [...]'",
            "Tuple": "a tuple outside 'in (...)'",
            "Starred": "starred expression",
            "JoinedStr": "f-string",
            "Await": "await",
            "Yield": "yield",
        }.get(type(node).__name__, type(node).__name__)

    def _Expression(self, node):
        return self.kind(node.body)

    def _Constant(self, node):
        return _literal_kind(node.value)

    def _Name(self, node):
        if node.id not in self.kinds:
            known = ", ".join(sorted(self.kinds))
            raise QueryError(f"unknown column {node.id!r}; columns: {known}")
        return self.kinds[node.id]

    def _BoolOp(self, node):
        for value in node.values:
            if self.kind(value) != "bool":
                raise QueryError(f"{_describe(value)!r} is not boolean (operand of and/or)")
        return "bool"

    def _UnaryOp(self, node):
        kind = self.kind(node.operand)
        if isinstance(node.op, ast.Not):
            if kind != "bool":
                raise QueryError(f"{_describe(node.operand)!r} is not boolean (operand of not)")
            return "bool"
        if kind != "number":
            raise QueryError(f"{_describe(node)!r}: unary minus/plus of a non-number")
        return "number"

    def _BinOp(self, node):
        left, right = self.kind(node.left), self.kind(node.right)
        if type(node.op) not in _ARITHMETIC:
            raise QueryError(f"{_describe(node)!r}: operator {type(node.op).__name__} is not allowed")
        if left != "number" or right != "number":
            raise QueryError(f"{_describe(node)!r}: arithmetic needs numbers")
        return "number"

    def _Compare(self, node):
        left = self.kind(node.left)
        for op, comparator in zip(node.ops, node.comparators):
            if isinstance(op, ast.In | ast.NotIn):
                if not isinstance(comparator, ast.List | ast.Tuple):
                    raise QueryError(f"{_describe(comparator)!r}: 'in' needs a [list] or (tuple) of literals")
                for elt in comparator.elts:
                    if not isinstance(elt, ast.Constant):
                        raise QueryError(f"{_describe(elt)!r}: 'in' lists hold literals only")
                    if _literal_kind(elt.value) != left:
                        raise QueryError(f"{_describe(node)!r}: {elt.value!r} is not a {left}")
                right = left
            else:
                right = self.kind(comparator)
                if type(op) not in _ORDER and type(op) not in _EQUALITY:
                    raise QueryError(f"{_describe(node)!r}: comparison {type(op).__name__} is not allowed")
                if left != right:
                    raise QueryError(f"{_describe(node)!r}: compares a {left} with a {right}")
                if type(op) in _ORDER and left != "number":
                    raise QueryError(f"{_describe(node)!r}: < <= > >= need numbers")
            left = right
        return "bool"

    def _Call(self, node):
        if not isinstance(node.func, ast.Name) or node.func.id not in FUNCTIONS:
            raise QueryError(
                f"{_describe(node)!r}: a call is not allowed except {', '.join(sorted(FUNCTIONS))}(x)"
            )
        if len(node.args) != 1 or node.keywords:
            raise QueryError(f"{_describe(node)!r}: {node.func.id} takes exactly one argument")
        if self.kind(node.args[0]) != "number":
            raise QueryError(f"{_describe(node)!r}: {node.func.id} needs a number")
        return FUNCTIONS[node.func.id][1]


def parse_query(query: str, columns: Mapping[str, object] | pd.DataFrame) -> ast.Expression:
    """Parse and check a query against the column dtypes.

    Parameters
    ----------
    query : str
        The selection expression (grammar in the module docstring).
    columns : pandas.DataFrame or mapping
        A (possibly empty) typed table, or a mapping column name -> dtype.

    Returns
    -------
    ast.Expression
        The checked tree, for :func:`evaluate_query`.

    Raises
    ------
    QueryError
        Naming the part of the query that is refused and why.
    """
    if not isinstance(query, str) or not query.strip():
        raise QueryError("empty query")
    if len(query) > MAX_QUERY_LENGTH:
        raise QueryError(f"query longer than {MAX_QUERY_LENGTH} characters")
    text = _normalise(query.strip())
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError) as err:
        raise QueryError(f"syntax error: {getattr(err, 'msg', err)}") from None
    dtypes = columns.dtypes.to_dict() if isinstance(columns, pd.DataFrame) else dict(columns)
    kinds = {str(name): _kind_of_dtype(dtype) for name, dtype in dtypes.items()}
    try:
        result = _Checker(kinds).kind(tree)
    except RecursionError:
        raise QueryError("query nested too deeply") from None
    if result != "bool":
        raise QueryError(f"the query is a {result}, not a boolean per row (compare it with something)")
    return tree


class _Evaluator:
    def __init__(self, table: pd.DataFrame):
        self.table = table

    def value(self, node: ast.AST):
        return getattr(self, "_" + type(node).__name__)(node)

    def _Expression(self, node):
        return self.value(node.body)

    def _Constant(self, node):
        return node.value

    def _Name(self, node):
        column = self.table[node.id]
        if isinstance(column.dtype, pd.CategoricalDtype):
            return column.astype(object).to_numpy()
        return column.to_numpy()

    def _BoolOp(self, node):
        combine = np.logical_and if isinstance(node.op, ast.And) else np.logical_or
        out = self.value(node.values[0])
        for value in node.values[1:]:
            out = combine(out, self.value(value))
        return out

    def _UnaryOp(self, node):
        operand = self.value(node.operand)
        if isinstance(node.op, ast.Not):
            return np.logical_not(operand)
        return np.negative(operand) if isinstance(node.op, ast.USub) else np.positive(operand)

    def _BinOp(self, node):
        return _ARITHMETIC[type(node.op)](self.value(node.left), self.value(node.right))

    def _Compare(self, node):
        out, left = None, self.value(node.left)
        for op, comparator in zip(node.ops, node.comparators):
            if isinstance(op, ast.In | ast.NotIn):
                values = [elt.value for elt in comparator.elts]
                part = np.isin(left, values) if values else np.zeros(np.shape(left), dtype=bool)
                if isinstance(op, ast.NotIn):
                    part = np.logical_not(part)
                right = left
            else:
                right = self.value(comparator)
                part = {**_ORDER, **_EQUALITY}[type(op)](left, right)
            out = part if out is None else np.logical_and(out, part)
            left = right
        return out

    def _Call(self, node):
        return FUNCTIONS[node.func.id][0](np.asarray(self.value(node.args[0]), dtype=float))


def evaluate_query(tree: ast.Expression | str, table: pd.DataFrame) -> np.ndarray:
    """Row mask of ``table`` where a query holds.

    Parameters
    ----------
    tree : ast.Expression or str
        A tree from :func:`parse_query`, or a query string (checked here first).
    table : pandas.DataFrame
        The rows to test; must hold every column the query names.

    Returns
    -------
    numpy.ndarray
        Boolean, shape ``(len(table),)``; NaN compares false as in pandas.

    Raises
    ------
    QueryError
        If the query is refused by :func:`parse_query` or its values are not boolean.
    """
    if isinstance(tree, str):
        tree = parse_query(tree, table)
    with np.errstate(all="ignore"):
        mask = np.asarray(_Evaluator(table).value(tree))
    if mask.dtype != bool:
        raise QueryError(f"the query gives {mask.dtype} values, not a boolean per row")
    return np.array(np.broadcast_to(mask, (len(table),)))
