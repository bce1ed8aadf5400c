"""WorkloadSpec: where requests come from (a synthetic length distribution or a trace file)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from l3sim.spec.base import Spec

SYNTHETIC_FIELDS = ("prompt_mean", "prompt_std", "output_mean", "output_std")


class WorkloadSpec(Spec):
    """A named source of requests; see ``l3sim.workload`` for the generators and loaders.

    A synthetic workload draws prompt and output lengths independently from a
    positive distribution matched to a published mean and standard deviation
    (the L3 paper gives only those two numbers per dataset). A trace workload
    reads a file in one of the formats of ``l3sim.workload.formats``.
    """

    name: str
    kind: Literal["synthetic", "trace"] = "synthetic"
    prompt_mean: float | None = Field(None, gt=0, description="mean prompt tokens (synthetic)")
    prompt_std: float | None = Field(None, ge=0, description="std of prompt tokens (synthetic)")
    output_mean: float | None = Field(None, gt=0, description="mean output tokens (synthetic)")
    output_std: float | None = Field(None, ge=0, description="std of output tokens (synthetic)")
    length_distribution: Literal["lognormal", "gamma"] = Field(
        "lognormal",
        description="family moment-matched to (mean, std) for synthetic lengths. The paper states only mean and "
        "std; lognormal is positive, right-skewed and the usual fit to LLM token lengths, so it is the default; "
        "gamma is the lighter-tailed alternative with the same two moments",
    )
    length_scale: float = Field(
        1.0,
        gt=0,
        description="factor applied to every sampled length before rounding (synthetic); Dolphin-short is "
        "Dolphin-r1 with every text cut to one tenth (L3 paper), i.e. length_scale = 0.1",
    )
    path: str | None = Field(None, description="trace file (trace)")
    format: str | None = Field(
        None, description="trace format: a name in l3sim.workload.formats.TRACE_FORMATS (azure, mooncake, csv, "
        "jsonl, and any format added there; checked when the trace is read, an unknown name lists the known "
        "ones); None: inferred from the file's extension and header"
    )
    source: str = ""

    @model_validator(mode="after")
    def _check_kind_fields(self) -> "WorkloadSpec":
        if self.kind == "synthetic":
            missing = [name for name in SYNTHETIC_FIELDS if getattr(self, name) is None]
            if missing:
                raise ValueError(f"a synthetic workload needs {', '.join(missing)}")
            if self.path is not None or self.format is not None:
                raise ValueError("'path' and 'format' apply to kind = 'trace' only")
        else:
            if self.path is None:
                raise ValueError("a trace workload needs 'path'")
            given = [name for name in SYNTHETIC_FIELDS if getattr(self, name) is not None]
            if given:
                raise ValueError(f"{', '.join(given)} apply to kind = 'synthetic' only")
        return self
