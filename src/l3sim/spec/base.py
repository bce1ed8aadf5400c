"""The base class of every spec, and conversion of pydantic errors into ConfigError."""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError, ValidationInfo, field_validator, model_validator

from l3sim.errors import ConfigError
from l3sim.spec.numbers import check_plausible, check_products

SpecT = TypeVar("SpecT", bound="Spec")


class Spec(BaseModel):
    """A validated, immutable description; unknown fields are errors, never ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True, allow_inf_nan=False)

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
            raise config_error_from(exc, source or cls.__name__) from None


def config_error_from(exc: ValidationError, source: str) -> ConfigError:
    """Turn a pydantic ValidationError into one readable ConfigError message."""
    lines = []
    for err in exc.errors():
        field = ".".join(str(part) for part in err["loc"]) or "(top level)"
        got = err.get("input")
        shown = "" if isinstance(got, dict) else f" (got {got!r})"
        lines.append(f"  {field}: {err['msg']}{shown}")
    return ConfigError(f"invalid {source}:\n" + "\n".join(lines))
