"""Small deterministic run functions for the executor and sweep tests (importable by worker processes).

Each is a closed-form function of spec fields, so a test can compute the
expected metrics itself without the simulator.
"""

from __future__ import annotations

import os
import time
from typing import Any

from l3sim.errors import CapacityError


def expected_score(seed: int, max_batch_tokens: int, num_layers: int) -> float:
    """The closed form :func:`linear_metrics` must give (tests compare against this, not against the function)."""
    return 1000.0 * seed + max_batch_tokens / 1024 + num_layers / 8


def linear_metrics(spec: dict[str, Any]) -> dict[str, Any]:
    """A metric computed from three spec fields, and one nested metric to check flattening."""
    seed = spec["seed"]
    tokens = spec["serving"]["max_batch_tokens"]
    layers = spec["model"]["num_layers"]
    return {"score": 1000.0 * seed + tokens / 1024 + layers / 8, "layers": layers, "lat": {"p50_s": seed / 2}}


def slow_metrics(spec: dict[str, Any]) -> dict[str, Any]:
    """:func:`linear_metrics` after a pause (seconds from $L3SIM_TEST_SLEEP_S, default 0.2)."""
    time.sleep(float(os.environ.get("L3SIM_TEST_SLEEP_S", "0.2")))
    return linear_metrics(spec)


def odd_seed_does_not_fit(spec: dict[str, Any]) -> dict[str, Any]:
    """Raise CapacityError (a deliberate verdict) for odd seeds."""
    if spec["seed"] % 2:
        raise CapacityError(f"seed {spec['seed']} does not fit")
    return linear_metrics(spec)


def crash_on_seed_one(spec: dict[str, Any]) -> dict[str, Any]:
    """Raise a plain RuntimeError (a crash, not a verdict) for seed 1, unless $L3SIM_TEST_FIXED is set."""
    if spec["seed"] == 1 and not os.environ.get("L3SIM_TEST_FIXED"):
        raise RuntimeError("boom")
    return linear_metrics(spec)


def worker_pid(spec: dict[str, Any]) -> dict[str, Any]:
    """The id of the process that ran the point (to see that a backend really uses other processes)."""
    return {"pid": os.getpid(), "seed": spec["seed"]}
