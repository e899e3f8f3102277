"""JSON for job files without importing `re`: the standard library's own C scanner and
string encoder, behind `loads` and `dumps(data)` (== `json.dumps(data, indent=2)`).

The `json` package imports `re`, and `re` imports `enum`: together they would make
the runner, which starts once per task, take twice as long as a bare interpreter.
A test pins that both functions agree with `json` on random documents.
"""

from __future__ import annotations

import _json  # CPython's accelerator module behind `json`

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

_CONSTANTS = {"NaN": float("nan"), "Infinity": float("inf"), "-Infinity": float("-inf")}
_WHITESPACE = " \t\n\r"
_INDENT = "  "


class _ScanContext:
    """The settings `json.JSONDecoder` hands the C scanner, at their defaults."""

    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    parse_constant = staticmethod(_CONSTANTS.__getitem__)


_scan_once = _json.make_scanner(_ScanContext())  # type: ignore[arg-type]  # duck-typed context
_quote = _json.encode_basestring_ascii


def loads(text: str) -> Any:
    """Parse one JSON document; ValueError (JSONDecodeError on bad syntax) if it is not one."""
    body = text.strip(_WHITESPACE)
    if not body:
        raise ValueError("Expecting value: the document is empty")
    try:
        value, end = _scan_once(body, 0)
    except StopIteration as stop:
        raise ValueError(f"Expecting value at character {stop.value}") from None
    except RecursionError:
        # A hostile file nested thousands of levels deep: refused, never a crash.
        raise ValueError("nested too deeply") from None
    except SystemError:
        # The C scanner reports syntax errors through json.decoder, which is not imported
        # here on purpose: let `json` itself parse the bad text and raise its JSONDecodeError.
        import json

        try:
            return json.loads(text)
        except RecursionError:
            raise ValueError("nested too deeply") from None
    if end != len(body):
        raise ValueError(f"Extra data at character {end}")
    return value


def dumps(value: Any) -> str:
    """`json.dumps(value, indent=2)`: two-space indent, ASCII only, NaN allowed."""
    parts: list[str] = []
    _encode(value, parts, 0)
    return "".join(parts)


def _encode(value: Any, parts: list[str], level: int) -> None:
    if isinstance(value, str):
        parts.append(_quote(value))
    elif value is None:
        parts.append("null")
    elif value is True:
        parts.append("true")
    elif value is False:
        parts.append("false")
    elif isinstance(value, int):
        parts.append(int.__repr__(value))
    elif isinstance(value, float):
        parts.append(_float(value))
    elif isinstance(value, (list, tuple)):
        _container(parts, level, "[", "]", [(None, item) for item in value])
    elif isinstance(value, dict):
        _container(parts, level, "{", "}", [(_key(key), item) for key, item in value.items()])
    else:
        raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def _container(parts: list[str], level: int, open_: str, close: str, items: list[tuple[str | None, Any]]) -> None:
    if not items:
        parts.append(open_ + close)
        return
    inner = "\n" + _INDENT * (level + 1)
    parts.append(open_)
    for index, (key, item) in enumerate(items):
        parts.append(inner if index == 0 else "," + inner)
        if key is not None:
            parts.append(key + ": ")
        _encode(item, parts, level + 1)
    parts.append("\n" + _INDENT * level + close)


def _key(key: Any) -> str:
    if isinstance(key, str):
        return _quote(key)
    if key is True or key is False or key is None:
        return _quote({True: "true", False: "false", None: "null"}[key])
    if isinstance(key, int):
        return _quote(int.__repr__(key))
    if isinstance(key, float):
        return _quote(_float(key))
    raise TypeError(f"keys must be str, int, float, bool or None, not {type(key).__name__}")


def _float(value: float) -> str:
    if value != value:
        return "NaN"
    if value in (float("inf"), float("-inf")):
        return "Infinity" if value > 0 else "-Infinity"
    return float.__repr__(value)
