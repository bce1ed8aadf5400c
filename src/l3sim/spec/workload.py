"""WorkloadSpec: where requests come from (a synthetic length distribution or a trace file)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from l3sim.spec.base import Spec


class WorkloadSpec(Spec):
    """A named source of requests; see ``l3sim.workload`` for the generators and loaders."""

    name: str
    kind: Literal["synthetic", "trace"] = "synthetic"
    prompt_mean: float | None = Field(None, gt=0, description="mean prompt tokens (synthetic)")
    prompt_std: float | None = Field(None, ge=0, description="std of prompt tokens (synthetic)")
    output_mean: float | None = Field(None, gt=0, description="mean output tokens (synthetic)")
    output_std: float | None = Field(None, ge=0, description="std of output tokens (synthetic)")
    path: str | None = Field(None, description="trace file (trace)")
    format: Literal["azure", "mooncake", "csv", "jsonl"] | None = Field(None, description="trace format")
    source: str = ""
