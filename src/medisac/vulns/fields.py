"""Typed access to JSON fields, with errors that name the field's path."""

from __future__ import annotations

from typing import Any

from medisac.errors import IngestError

__all__ = ["FieldError", "optional_str", "require", "require_list", "require_str"]


class FieldError(IngestError):
    """A required field is missing or has the wrong type.

    ``field`` is the path of the field, such as
    ``product_tree.branches[0].product.product_id``.
    """

    def __init__(self, origin: str, field: str, problem: str) -> None:
        self.field = field
        super().__init__(origin, f"field {field} {problem}", field)


def _type_name(value: Any) -> str:
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean"}
    return names.get(type(value), f"a {type(value).__name__}")


def require(origin: str, data: Any, key: str, path: str) -> Any:
    """Return ``data[key]``; raise :class:`FieldError` when it is missing."""
    if not isinstance(data, dict):
        raise FieldError(origin, path.rpartition(".")[0] or path, "must be an object")
    if key not in data or data[key] is None:
        raise FieldError(origin, path, "is missing")
    return data[key]


def require_str(origin: str, data: Any, key: str, path: str) -> str:
    """Return ``data[key]`` as a non-empty string, or raise :class:`FieldError`."""
    value = require(origin, data, key, path)
    if not isinstance(value, str):
        raise FieldError(origin, path, f"must be a string, not {_type_name(value)}")
    if not value.strip():
        raise FieldError(origin, path, "is empty")
    return value


def require_list(origin: str, data: Any, key: str, path: str) -> list[Any]:
    """Return ``data[key]`` as a list, or raise :class:`FieldError`."""
    value = require(origin, data, key, path)
    if not isinstance(value, list):
        raise FieldError(origin, path, f"must be a list, not {_type_name(value)}")
    return value


def optional_str(data: Any, key: str) -> str | None:
    """Return ``data[key]`` stripped when it is a non-empty string, else None."""
    value = data.get(key) if isinstance(data, dict) else None
    if isinstance(value, str) and value.strip():
        return value.strip()
    return None
