"""Kerchunk ``gen`` entries and template expressions, evaluated at bounded cost.

kerchunk version 1 reference files may hold ``gen`` entries: Jinja2 templates for a key, a URL
and optionally an offset and a length, rendered for every point of a product of integer
dimensions. Rendering them with Jinja2 (even its sandbox) lets a few bytes of JSON ask for
gigabytes (``{{ 'A' * 3000000000 }}``), hours of CPU (``{{ 9 ** 199999999 }}``) or billions
of keys (a dimension stop of ``10**20``). This module therefore never runs a Jinja2 template:

* a template is *parsed* by Jinja2 and only this subset is accepted: text, variables,
  constants, arithmetic (``+ - * / // % **``), comparisons, ``and``/``or``/``not``,
  conditional expressions, ``~`` concatenation, indexing, and the filters ``int``, ``float``,
  ``string``, ``abs``, ``round``, ``default``/``d``, ``lower``, ``upper``, ``trim``,
  ``length`` and ``format`` (printf-style, widths checked). Statements (``{% for %}``,
  ``{% set %}``), calls, attribute access and every other filter are refused
  (:class:`~nwbzarr.errors.ReferenceFileError`);
* the accepted expression tree is compiled to Python closures whose every step that can grow
  a value is checked *before* it computes: no string longer than ``limits.max_template_bytes``
  and no integer wider than ``limits.max_template_int_bits`` is ever built; the expression
  nodes evaluated in all are bounded by ``OPERATIONS_PER_KEY`` times
  ``limits.max_generated_refs``
  (:class:`~nwbzarr.errors.LimitExceededError`);
* the number of keys is the product of the dimension lengths, computed from ``start``,
  ``stop`` and ``step`` (no ``range`` is built) and checked against
  ``limits.max_generated_refs`` before anything is rendered; the bytes rendered in all are
  bounded by ``limits.max_json_bytes`` (an expanded ``gen`` is no larger than the JSON that
  could have listed its keys).

Plain ``{{name}}`` substitution (the common case) costs one dictionary lookup per variable.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Callable, Iterator
from functools import partial
from typing import Any

from ... import limits
from ...errors import LimitExceededError, ReferenceFileError

__all__ = ["compile_template", "expand_gen", "gen_dimensions"]

Context = dict[str, Any]
_Eval = Callable[[Context], Any]


class _Undefined:
    """A variable no template or dimension defines (renders as ``""``, like Jinja2)."""

    __slots__ = ()

    def __str__(self) -> str:
        return ""


UNDEFINED = _Undefined()

OPERATIONS_PER_KEY = 32
"""Average expression nodes a ``gen`` entry may evaluate per key (key, URL, offset and length
templates together): the CPU an entry costs is bounded by ``max_generated_refs`` times this."""
_FORMAT_NUMBER = re.compile(r"%[-#0 +]*(\d*)(?:\.(\d*))?")


class _Limits:
    """The caps one expansion works under (read once: ``limits.current()`` is not free)."""

    def __init__(self, where: str) -> None:
        lim = limits.current()
        self.where = where
        self.chars = lim.max_template_bytes
        self.bits = lim.max_template_int_bits
        self.nodes = 0  # expression nodes compiled: the work of one render

    def too_long(self, size: int, what: str = "a template value") -> LimitExceededError:
        return limits.exceeded(
            f"{self.where}: {what} would be {size} characters long",
            "max_template_bytes",
            size,
        )

    def too_wide(self, bits: float) -> LimitExceededError:
        return limits.exceeded(
            f"{self.where}: an integer would be {int(bits)} bits wide",
            "max_template_int_bits",
            int(bits),
        )

    def check(self, value: Any) -> Any:
        if isinstance(value, str):
            if len(value) > self.chars:
                raise self.too_long(len(value))
        elif type(value) is int and value.bit_length() > self.bits:
            raise self.too_wide(value.bit_length())
        return value


def _is_int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _defined(value: Any, lim: _Limits) -> Any:
    if value is UNDEFINED:
        raise ReferenceFileError(f"{lim.where}: arithmetic on an undefined variable")
    return value


def _binop(op: str, lim: _Limits) -> Callable[[Any, Any], Any]:
    def mul(a: Any, b: Any) -> Any:
        if isinstance(a, str) and _is_int(b) or isinstance(b, str) and _is_int(a):
            text, n = (a, b) if isinstance(a, str) else (b, a)
            if n > 0 and len(text) * n > lim.chars:
                raise lim.too_long(len(text) * n)
        elif _is_int(a) and _is_int(b) and a.bit_length() + b.bit_length() > lim.bits + 1:
            raise lim.too_wide(a.bit_length() + b.bit_length())
        return a * b

    def power(a: Any, b: Any) -> Any:
        if _is_int(a) and _is_int(b) and b > 0 and abs(a) > 1:
            bits = b * math.log2(abs(a))
            if bits > lim.bits:
                raise lim.too_wide(bits)
        return a**b

    def add(a: Any, b: Any) -> Any:
        if isinstance(a, str) and isinstance(b, str) and len(a) + len(b) > lim.chars:
            raise lim.too_long(len(a) + len(b))
        return a + b

    def mod(a: Any, b: Any) -> Any:
        if isinstance(a, str):
            if isinstance(b, (tuple, list, dict)):
                raise ReferenceFileError(f"{lim.where}: '%' formatting takes one value")
            return _printf(lim, a, b)
        return a % b

    ops = {
        "+": add,
        "-": lambda a, b: a - b,
        "*": mul,
        "/": lambda a, b: a / b,
        "//": lambda a, b: a // b,
        "%": mod,
        "**": power,
    }
    return ops[op]


def _printf(lim: _Limits, fmt: Any, *args: Any) -> str:
    """``fmt % args`` with every width and precision checked first (they are sizes)."""
    if not isinstance(fmt, str):
        raise TypeError("the format must be text")
    for m in _FORMAT_NUMBER.finditer(fmt):
        for number in m.groups():
            if number and (len(number) > 9 or int(number) > lim.chars):
                raise lim.too_long(int(number[:12]), "a formatted value")
    if "*" in fmt:
        raise ReferenceFileError(f"{lim.where}: '*' widths are not supported in formats")
    for arg in args:
        if not isinstance(arg, (str, int, float)):
            raise TypeError(f"cannot format {type(arg).__name__}")
    return fmt % (args[0] if len(args) == 1 else args)


_COMPARE = {
    "eq": lambda a, b: a == b,
    "ne": lambda a, b: a != b,
    "gt": lambda a, b: a > b,
    "gteq": lambda a, b: a >= b,
    "lt": lambda a, b: a < b,
    "lteq": lambda a, b: a <= b,
    "in": lambda a, b: a in b,
    "notin": lambda a, b: a not in b,
}


def _f_int(value: Any, default: Any = 0, base: Any = 10) -> Any:
    if isinstance(value, str) and base != 10:
        try:
            return int(value, base)
        except (TypeError, ValueError):
            return default
    try:
        return int(value)
    except (TypeError, ValueError, OverflowError):
        try:
            return int(float(value))
        except (TypeError, ValueError, OverflowError):
            return default


def _f_float(value: Any, default: Any = 0.0) -> Any:
    try:
        return float(value)
    except (TypeError, ValueError, OverflowError):
        return default


def _f_default(value: Any, default: Any = "", boolean: Any = False) -> Any:
    if value is UNDEFINED or (boolean and not value):
        return default
    return value


def _f_round(value: Any, precision: Any = 0, method: Any = "common") -> Any:
    if not _is_int(precision) or abs(precision) > 400:
        raise ValueError("round precision must be a small integer")
    if method == "ceil":
        return math.ceil(value * 10**precision) / 10**precision
    if method == "floor":
        return math.floor(value * 10**precision) / 10**precision
    return round(value, precision)


_FILTERS: dict[str, Callable[..., Any]] = {
    "int": _f_int,
    "float": _f_float,
    "string": str,
    "abs": abs,
    "round": _f_round,
    "default": _f_default,
    "d": _f_default,
    "lower": lambda s: str(s).lower(),
    "upper": lambda s: str(s).upper(),
    "trim": lambda s: str(s).strip(),
    "length": len,
    "count": len,
}


def _compile(node: Any, lim: _Limits) -> _Eval:  # noqa: C901 - one branch per node type
    from jinja2 import nodes

    lim.nodes += 1
    check = lim.check
    if isinstance(node, nodes.Const):
        value = check(node.value)
        return lambda ctx: value
    if isinstance(node, nodes.TemplateData):
        data = node.data
        return lambda ctx: data
    if isinstance(node, nodes.Name):
        name = node.name
        return lambda ctx: ctx.get(name, UNDEFINED)
    if isinstance(node, (nodes.And, nodes.Or)):
        left, right = _compile(node.left, lim), _compile(node.right, lim)
        if isinstance(node, nodes.And):
            return lambda ctx: left(ctx) and right(ctx)
        return lambda ctx: left(ctx) or right(ctx)
    if isinstance(node, nodes.BinExpr):
        left, right = _compile(node.left, lim), _compile(node.right, lim)
        op = _binop(node.operator, lim)
        return lambda ctx: check(op(_defined(left(ctx), lim), _defined(right(ctx), lim)))
    if isinstance(node, nodes.Not):
        inner = _compile(node.node, lim)
        return lambda ctx: not inner(ctx)
    if isinstance(node, (nodes.Neg, nodes.Pos)):
        inner = _compile(node.node, lim)
        if isinstance(node, nodes.Neg):
            return lambda ctx: -_defined(inner(ctx), lim)
        return lambda ctx: +_defined(inner(ctx), lim)
    if isinstance(node, nodes.Concat):
        parts = [_compile(n, lim) for n in node.nodes]
        return lambda ctx: _join([p(ctx) for p in parts], lim)
    if isinstance(node, nodes.CondExpr):
        test, yes = _compile(node.test, lim), _compile(node.expr1, lim)
        no = _compile(node.expr2, lim) if node.expr2 is not None else (lambda ctx: UNDEFINED)
        return lambda ctx: yes(ctx) if test(ctx) else no(ctx)
    if isinstance(node, nodes.Compare):
        return _compile_compare(node, lim)
    if isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Expr):
        obj, index = _compile(node.node, lim), _compile(node.arg, lim)
        return lambda ctx: _defined(obj(ctx), lim)[_defined(index(ctx), lim)]
    if isinstance(node, nodes.Filter) and node.node is not None:
        return _compile_filter(node, lim)
    raise ReferenceFileError(
        f"{lim.where}: the template uses {type(node).__name__}, which nwbzarr does not "
        "evaluate (only variables, constants, arithmetic, comparisons, conditionals and a few "
        "filters; no statements, calls or attributes)"
    )


def _compile_compare(node: Any, lim: _Limits) -> _Eval:
    """A chained comparison (``a < b <= c``): each operand evaluated once, left to right."""
    first = _compile(node.expr, lim)
    ops = [(_COMPARE[o.op], _compile(o.expr, lim)) for o in node.ops]

    def compare(ctx: Context) -> bool:
        a = _defined(first(ctx), lim)
        for fn, expr in ops:
            b = _defined(expr(ctx), lim)
            if not fn(a, b):
                return False
            a = b
        return True

    return compare


def _compile_filter(node: Any, lim: _Limits) -> _Eval:
    """``value | name(args)`` for a filter of :data:`_FILTERS` or ``format``; others refused."""
    fn = partial(_printf, lim) if node.name == "format" else _FILTERS.get(node.name)
    if fn is None or node.dyn_args is not None or node.dyn_kwargs is not None:
        raise ReferenceFileError(
            f"{lim.where}: the filter {node.name!r} is not supported (nwbzarr evaluates "
            f"only {', '.join(sorted([*_FILTERS, 'format']))})"
        )
    value = _compile(node.node, lim)
    args = [_compile(a, lim) for a in node.args]
    kwargs = [(k.key, _compile(k.value, lim)) for k in node.kwargs]
    keeps_undefined = node.name in ("default", "d")
    check = lim.check

    def apply(ctx: Context) -> Any:
        v = value(ctx)
        if v is UNDEFINED and not keeps_undefined:
            v = ""
        return check(fn(v, *[a(ctx) for a in args], **{k: e(ctx) for k, e in kwargs}))

    return apply


def _join(values: list, lim: _Limits) -> str:
    texts = [v if isinstance(v, str) else str(v) for v in values]
    size = sum(map(len, texts))
    if size > lim.chars:
        raise lim.too_long(size)
    return "".join(texts)


class _Blank(dict):
    """Variables for :meth:`str.format_map`: an undefined one renders as ``""``."""

    def __missing__(self, key: str) -> str:
        return ""


def compile_template(
    source: str, where: str, widest: int | None = None
) -> Callable[[Context], str]:
    """Compile a kerchunk template to a function ``context -> rendered text``.

    Parameters
    ----------
    source : str
        The template (``"x/{{i}}.{{j}}"``, ``"{{ 1000 + i * 100 }}"``).
    where : str
        The file and entry, for messages (``"refs.json: gen[0] key"``).
    widest : int, optional
        The longest text any variable renders to: a template of text and ``{{name}}`` only
        whose output cannot exceed the limit then renders with one :meth:`str.format_map`.

    Returns
    -------
    callable
        Renders the template for a dict of variables; raises
        :class:`~nwbzarr.errors.LimitExceededError` if a value would exceed
        ``limits.max_template_bytes`` and :class:`~nwbzarr.errors.ReferenceFileError` for an
        arithmetic error or an undefined variable used in arithmetic.

    Raises
    ------
    ReferenceFileError
        Not a template of the accepted subset (see the module docstring).
    LimitExceededError
        The template text itself is longer than ``limits.max_template_bytes``.
    """
    lim = _Limits(where)
    if not isinstance(source, str):
        raise ReferenceFileError(f"{where}: the template must be a string, got {source!r:.80}")
    if len(source) > lim.chars:
        raise lim.too_long(len(source), "the template text")
    if "{" not in source:
        return _costing(lambda ctx: source, 1)
    tree = _parse(source, where)
    parts, simple = _compile_body(tree, lim)
    if simple is not None and widest is not None:
        literal = sum(len(n.data) for st in tree.body for n in st.nodes if hasattr(n, "data"))
        names = len(parts) - sum(1 for st in tree.body for n in st.nodes if hasattr(n, "data"))
        if literal + names * widest <= lim.chars:
            pattern = "".join(simple)
            return _costing(lambda ctx: pattern.format_map(_Blank(ctx)), 1)

    def render(ctx: Context) -> str:
        try:
            return _join([p(ctx) for p in parts], lim)
        except (LimitExceededError, ReferenceFileError):
            raise
        except RecursionError:
            raise limits.exceeded(
                f"{where}: template nested too deeply", "max_json_depth"
            ) from None
        except (ArithmeticError, TypeError, ValueError, KeyError, IndexError) as exc:
            raise ReferenceFileError(
                f"{where}: cannot render the template ({type(exc).__name__}: {exc})"
            ) from None

    return _costing(render, lim.nodes)


def _parse(source: str, where: str) -> Any:
    """Jinja2's syntax tree of ``source`` (parsed only, never rendered by Jinja2)."""
    from jinja2 import Environment, TemplateError  # optional dependency (extra "remote")

    try:
        return Environment(autoescape=False).parse(source)
    except RecursionError:
        raise limits.exceeded(f"{where}: template nested too deeply", "max_json_depth") from None
    except (TemplateError, ValueError) as exc:  # ValueError: an integer literal too long
        raise ReferenceFileError(f"{where}: invalid template ({exc})") from None


def _compile_body(tree: Any, lim: _Limits) -> tuple[list[_Eval], list[str] | None]:
    """The compiled output nodes of ``tree``, and the same template as a :meth:`str.format`
    pattern when it holds only text and ``{{name}}`` (else None)."""
    from jinja2 import nodes  # optional dependency (extra "remote")

    parts: list[_Eval] = []
    simple: list[str] | None = []
    try:
        for stmt in tree.body:
            if not isinstance(stmt, nodes.Output):
                raise ReferenceFileError(
                    f"{lim.where}: the template holds a {type(stmt).__name__} statement; "
                    "nwbzarr evaluates only {{ expressions }}"
                )
            for n in stmt.nodes:
                parts.append(_compile(n, lim))
                if simple is None:
                    continue
                if isinstance(n, nodes.TemplateData):
                    simple.append(n.data.replace("{", "{{").replace("}", "}}"))
                elif isinstance(n, nodes.Name) and n.name.isidentifier():
                    simple.append("{" + n.name + "}")
                else:
                    simple = None
    except RecursionError:
        raise limits.exceeded(
            f"{lim.where}: template nested too deeply", "max_json_depth"
        ) from None
    return parts, simple


def _costing(render: Callable[[Context], str], operations: int) -> Callable[[Context], str]:
    """Tag a renderer with the expression nodes one call evaluates (``.operations``)."""
    render.operations = max(1, operations)  # type: ignore[attr-defined]
    return render


def _dimension_length(name: str, spec: Any, where: str) -> tuple[int, Any]:
    if isinstance(spec, list):
        for value in spec:
            if not isinstance(value, (str, int, float)) or value is None:
                raise ReferenceFileError(
                    f"{where}: dimension {name!r} holds {value!r:.40}; expected numbers or text"
                )
        return len(spec), spec
    if not isinstance(spec, dict) or "stop" not in spec:
        raise ReferenceFileError(
            f"{where}: dimension {name!r} is neither a list nor {{start, stop, step}}"
        )
    start, stop, step = spec.get("start", 0), spec["stop"], spec.get("step", 1)
    for label, v in (("start", start), ("stop", stop), ("step", step)):
        if not _is_int(v):
            raise ReferenceFileError(
                f"{where}: dimension {name!r} has {label}={v!r:.40}; expected an integer"
            )
    if step == 0:
        raise ReferenceFileError(f"{where}: dimension {name!r} has step 0")
    count = max(0, -((start - stop) // step)) if step > 0 else max(0, -((stop - start) // -step))
    return count, (start, stop, step)


def gen_dimensions(gen: Any, where: str) -> tuple[int, dict[str, Any]]:
    """The number of keys a ``gen`` entry makes and its dimensions (nothing expanded).

    Parameters
    ----------
    gen : dict
        One ``gen`` entry.
    where : str
        The file and entry, for messages.

    Returns
    -------
    (int, dict)
        The product of the dimension lengths (arbitrarily large integers are fine: nothing is
        allocated) and ``{name: list or (start, stop, step)}``.

    Raises
    ------
    ReferenceFileError
        A malformed entry or dimension.
    """
    if not isinstance(gen, dict) or not isinstance(gen.get("dimensions"), dict):
        raise ReferenceFileError(f"{where}: the entry or its 'dimensions' is not a JSON object")
    total, dims = 1, {}
    for name, spec in gen["dimensions"].items():
        count, dims[name] = _dimension_length(name, spec, where)
        total *= count
    return total, dims


def expand_gen(gens: list, templates: dict[str, str], where: str) -> Iterator[tuple[str, list]]:
    """Expand kerchunk ``gen`` entries into ``(key, [url])`` / ``(key, [url, off, len])``.

    Every entry is sized first: the keys of all entries together must not exceed
    ``limits.max_generated_refs``; rendering is lazy (one key at a time).

    Parameters
    ----------
    gens : list
        The ``gen`` section.
    templates : dict of str to str
        The ``templates`` section (variables of every template).
    where : str
        The reference JSON, for messages.

    Raises
    ------
    ReferenceFileError
        A malformed entry or template (names ``gen[i]``).
    LimitExceededError
        Too many keys (``max_generated_refs``), a template value too long
        (``max_template_bytes``), or more than ``max_json_bytes`` rendered in all.
    """
    lim = limits.current()
    sized = _sized_gens(gens, where, lim.max_generated_refs)
    budget = lim.max_json_bytes
    widest = _widest_value(templates, sized)
    work_left = lim.max_generated_refs * OPERATIONS_PER_KEY
    for label, gen, dims, count in sized:
        key_t, url_t, off_t, len_t = _gen_renderers(label, gen, widest)
        work = sum(t.operations for t in (key_t, url_t, off_t, len_t) if t is not None)
        work_left -= count * work
        if work_left < 0:
            raise limits.exceeded(
                f"{label}: {count} keys of {work} template operations each (more than "
                f"{OPERATIONS_PER_KEY} per allowed key in all)",
                "max_generated_refs",
            )
        names = list(dims)
        axes = [v if isinstance(v, list) else range(*v) for v in dims.values()]
        for values in itertools.product(*axes):
            ctx = {**templates, **dict(zip(names, values))}
            key, url = key_t(ctx), url_t(ctx)
            budget -= len(key) + len(url)
            if budget < 0:
                raise limits.exceeded(
                    f"{label}: the 'gen' section renders more text than a reference JSON may hold",
                    "max_json_bytes",
                )
            if off_t is None:
                yield key, [url]
                continue
            offset, length = off_t(ctx), len_t(ctx)
            try:
                numbers = [int(offset), int(length)]
            except ValueError:
                raise ReferenceFileError(
                    f"{label}: offset {offset!r:.40} or length {length!r:.40} of key {key!r} "
                    "is not an integer"
                ) from None
            yield key, [url, *numbers]


def _sized_gens(gens: list, where: str, max_refs: int) -> list[tuple[str, dict, dict, int]]:
    """Every ``gen`` entry checked and sized before anything renders: ``(label, entry,
    dimensions, keys)``; the keys of all entries together within ``max_refs``."""
    sized, total = [], 0
    for index, gen in enumerate(gens):
        label = f"{where}: gen[{index}]"
        try:
            count, dims = gen_dimensions(gen, label)
        except ReferenceFileError as exc:
            raise ReferenceFileError(f"{label} is malformed ({exc})") from None
        total += count
        if total > max_refs:
            raise limits.exceeded(
                f"{label}: the 'gen' section expands to {total} keys or more",
                "max_generated_refs",
                total,
            )
        for field in ("key", "url"):
            if field not in gen:
                raise ReferenceFileError(
                    f"{label} is malformed (no {field!r}); expected "
                    "{'key', 'url', 'dimensions'[, 'offset', 'length']}"
                )
        if ("offset" in gen) != ("length" in gen):
            raise ReferenceFileError(f"{label}: needs both 'offset' and 'length' or neither")
        sized.append((label, gen, dims, count))
    return sized


def _widest_value(templates: dict[str, str], sized: list[tuple[str, dict, dict, int]]) -> int:
    """An upper bound of the text any variable (template or dimension value) renders to."""
    widest = max([len(v) for v in templates.values()] or [0])
    for _label, _gen, dims, _count in sized:
        for v in dims.values():
            texts = v if isinstance(v, list) else v[:2]
            widest = max(widest, *(len(str(t)) + 1 for t in texts)) if texts else widest
    return widest


def _gen_renderers(label: str, gen: dict, widest: int) -> tuple[Callable[[Context], str], ...]:
    """The compiled key, URL, offset and length templates of one entry (the last two None
    when the entry names whole files)."""
    try:
        key_t = compile_template(gen["key"], f"{label} key", widest)
        url_t = compile_template(gen["url"], f"{label} url", widest)
        off_t = len_t = None
        if "offset" in gen:
            off_t = compile_template(str(gen["offset"]), f"{label} offset", widest)
            len_t = compile_template(str(gen["length"]), f"{label} length", widest)
    except ReferenceFileError as exc:
        raise ReferenceFileError(f"{label} is malformed ({exc})") from None
    return key_t, url_t, off_t, len_t
