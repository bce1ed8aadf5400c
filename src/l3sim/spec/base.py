"""The base class of every spec, and conversion of pydantic errors into ConfigError."""

from __future__ import annotations

import difflib
import types
import typing
from typing import Any, ClassVar, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError, ValidationInfo, field_validator, model_validator

from l3sim.errors import ConfigError
from l3sim.spec.numbers import check_plausible, check_products

SpecT = TypeVar("SpecT", bound="Spec")


class Spec(BaseModel):
    """A validated, immutable description; unknown fields are errors, never ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True, allow_inf_nan=False)
    #: fields this spec no longer has -> what replaced them (said when an old file or --set still names one)
    RETIRED_FIELDS: ClassVar[dict[str, str]] = {}

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
    a spec nested in it) is answered with the fields that exist there, the closest one first, and, for a field
    the spec no longer has, what replaced it."""
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
    retired = getattr(owner, "RETIRED_FIELDS", {}).get(name)
    if retired is not None:
        return f"no longer a field of {owner.__name__}: {retired}"
    known = sorted(owner.model_fields)
    close = difflib.get_close_matches(name, known, n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    return f"unknown field of {owner.__name__}; {hint}known: {', '.join(known)}"


def _model_at(model: type[BaseModel], path: tuple) -> type[BaseModel] | None:
    """The model class that holds the field at ``path`` below ``model`` (None where the path leaves the specs)."""
    for part in path:
        info = model.model_fields.get(str(part))
        if info is None:
            return None
        nested = _nested_model(info.annotation)
        if nested is None:
            return None
        model = nested
    return model


def _nested_model(annotation: Any) -> type[BaseModel] | None:
    """The spec class a field holds (``X``, ``X | None``, ``str | X``: a preset name or the spec), else None."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        for member in typing.get_args(annotation):
            found = _nested_model(member)
            if found is not None:
                return found
    return None
