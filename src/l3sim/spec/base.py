"""The base class of every spec, and conversion of pydantic errors into ConfigError."""

from __future__ import annotations

import difflib
import types
import typing
import warnings
from typing import Any, ClassVar, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError, ValidationInfo, field_validator, model_validator

from l3sim.errors import ConfigError
from l3sim.spec.numbers import check_plausible, check_products

SpecT = TypeVar("SpecT", bound="Spec")


class SpecWarning(UserWarning):
    """A spec was read with a change the user should know of (a retired field ignored, a datasheet number
    assumed)."""


class Spec(BaseModel):
    """A validated, immutable description; unknown fields are errors, never ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True, allow_inf_nan=False)
    #: fields this spec no longer has -> what replaced them. An old file (a result written before, whose spec
    #: ``l3sim run --spec`` reruns) still reads: the field is ignored with a SpecWarning that says so.
    RETIRED_FIELDS: ClassVar[dict[str, str]] = {}

    @model_validator(mode="before")
    @classmethod
    def _retired_fields(cls, data: Any) -> Any:
        """Drop the fields of :attr:`RETIRED_FIELDS` that ``data`` still names, each with a SpecWarning."""
        if not cls.RETIRED_FIELDS or not isinstance(data, dict):
            return data
        retired = [name for name in data if name in cls.RETIRED_FIELDS]
        for name in retired:
            warnings.warn(f"{cls.__name__}.{name} is no longer a field and is ignored: {cls.RETIRED_FIELDS[name]}",
                          SpecWarning, stacklevel=2)
        return {key: value for key, value in data.items() if key not in retired} if retired else data

    @field_validator("*", mode="after")
    @classmethod
    def _plausible_numbers(cls, value: Any, info: ValidationInfo) -> Any:
        """Every number of every field within the ranges of :mod:`l3sim.spec.numbers` (one rule for all specs)."""
        return check_plausible(value, cls.__name__, info.field_name or "")

    @model_validator(mode="after")
    def _plausible_products(self) -> "Spec":
        """Products of fields within :data:`l3sim.spec.numbers.PRODUCT_LIMITS` (the ranks of a host)."""
        check_products(type(self).__name__, self.__dict__)
        return self

    @classmethod
    def parse(cls: type[SpecT], data: Any, source: str = "") -> SpecT:
        """Validate ``data``; on failure raise ConfigError naming ``source`` and each bad field."""
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise config_error_from(exc, source or cls.__name__, cls) from None


def config_error_from(exc: ValidationError, source: str, spec: type[BaseModel] | None = None) -> ConfigError:
    """Turn a pydantic ValidationError into one readable ConfigError message. An unknown field of ``spec`` (or of
    a spec nested in it, in a list or a table of specs too) is answered with the fields that exist there, the
    closest one first."""
    lines = []
    for err in exc.errors():
        field = ".".join(str(part) for part in err["loc"]) or "(top level)"
        got = err.get("input")
        shown = "" if isinstance(got, dict) else f" (got {got!r})"
        message = err["msg"]
        owner = _model_at(spec, err["loc"][:-1]) if spec is not None and err["type"] == "extra_forbidden" else None
        if owner is not None:
            message = _unknown_field(owner, str(err["loc"][-1]))
        lines.append(f"  {field}: {message}{shown}")
    return ConfigError(f"invalid {source}:\n" + "\n".join(lines))


def _unknown_field(owner: type[BaseModel], name: str) -> str:
    known = sorted(owner.model_fields)
    close = difflib.get_close_matches(name, known, n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    return f"unknown field of {owner.__name__}; {hint}known: {', '.join(known)}"


def _model_at(model: type[BaseModel], path: tuple) -> type[BaseModel] | None:
    """The model class that holds the field at ``path`` below ``model`` (None where the path leaves the specs).
    A field holding a list or a table of specs takes one more path part, the index or the key."""
    parts = list(path)
    while parts:
        info = model.model_fields.get(str(parts.pop(0)))
        if info is None:
            return None
        nested, in_container = _nested_model(info.annotation)
        if nested is None:
            return None
        if in_container:
            if not parts:
                return None
            parts.pop(0)
        model = nested
    return model


def _nested_model(annotation: Any) -> tuple[type[BaseModel] | None, bool]:
    """The spec class a field holds and whether it sits in a container: ``X``, ``X | None`` and ``str | X`` (a
    preset name or the spec) give (X, False); ``list[X]``, ``tuple[X, ...]`` and ``dict[str, X]`` (X, True)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation, False
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        for member in typing.get_args(annotation):
            found = _nested_model(member)
            if found[0] is not None:
                return found
    if origin in (list, tuple, dict):
        args = [arg for arg in typing.get_args(annotation) if arg is not Ellipsis]
        element = args[-1] if args else None
        found, nested_container = _nested_model(element) if element is not None else (None, False)
        if found is not None and not nested_container:
            return found, True
    return None, False
