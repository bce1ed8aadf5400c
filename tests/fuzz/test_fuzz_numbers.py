"""Numbers through the CLI: ``--set`` on every numeric field of a run spec, and the numeric options.

Each case ends in a clean ``error:`` (exit 2) or a run whose every metric passes the oracle
(metric_oracle.py); a traceback, a hang or a silently wrong metric fails the test.
"""

from __future__ import annotations

import math

import pytest
from cli_harness import expect_clean, expect_error, expect_sane_run
from fuzz_profile import FUZZ
from hypothesis import given
from hypothesis import strategies as st

from l3sim.spec.run import build_run_spec

BASE = ["run", "--model", "llama-2-7b", "--workload", "dolphin-short", "--requests", "3"]
SYSTEMS = ("gpu-only", "hbm-pim", "cpu-offload", "r-pim", "l3")


def _numeric_paths(node: object, prefix: str = "") -> list[str]:
    """Dotted paths of every number in a resolved run spec (so a new field is fuzzed without editing this)."""
    if isinstance(node, dict):
        return [p for key, value in node.items() for p in _numeric_paths(value, f"{prefix}{key}.")]
    if isinstance(node, (int, float)) and not isinstance(node, bool):
        return [prefix[:-1]]
    return []


SPEC = build_run_spec(platform="dgx-a100", model="llama-2-7b", workload="dolphin-short", system="l3")
#: ``requests`` is left to test_numeric_options: a large valid count is a long run, not a defect.
NUMERIC_PATHS = sorted(p for p in _numeric_paths(SPEC.model_dump()) if p != "requests")


def toml_number(value: float | int) -> str:
    """A number as a TOML literal (nan and inf included), as a user would type it after ``--set key=``."""
    if isinstance(value, float) and math.isnan(value):
        return "nan"
    if isinstance(value, float) and math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return repr(value)


NUMBERS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-(2**80), max_value=2**80),
    st.sampled_from([0, -1, 1, 2, 3, 0.5, 1e-300, 1e300, 1e30, 1e-30, 2**53 + 1, 100_000, 10**9, -0.0]),
)


@FUZZ
@given(path=st.sampled_from(NUMERIC_PATHS), value=NUMBERS, system=st.sampled_from(SYSTEMS))
def test_set_any_numeric_field(path: str, value: float | int, system: str) -> None:
    expect_sane_run([*BASE, "--system", system, "--set", f"{path}={toml_number(value)}"])


#: The issue's cases: each must be a clean error (they used to be tracebacks, hangs or silent nonsense).
ISSUE_CASES = [
    (["--set", "workload.prompt_mean=inf"], "prompt_mean"),
    (["--set", "workload.prompt_std=1e300"], "prompt_std"),
    (["--seed", "-1"], "seed"),
    (["--arrival", "gamma:1:1e300"], "CV"),
    (["--arrival", "gamma:1:1e-300"], "CV"),
    (["--arrival", "poisson:1e-300"], "RATE"),
    (["--requests", "99999999999999999999"], "requests"),
    (["--system", "l3", "--set", "memory.channels=1000000000"], "channels"),
    (["--system", "l3", "--set", "memory.dimms_per_channel=100000"], "dimms_per_channel"),
    (["--system", "hbm-pim-ext", "--set", "devices.hbm_pim_ext.module_capacity_bytes=inf"], "module_capacity"),
    (["--system", "l3", "--set", "devices.dimm_pim.ranks_per_layer=0"], "ranks_per_layer"),
    (["--tp", "0"], "tp"),
    (["--dp", "0"], "dp"),
    (["--set", "gpu.allreduce_latency_s=inf"], "allreduce_latency_s"),
    (["--set", "platform.host_link.latency_s=inf"], "latency_s"),
    (["--set", "platform.gpu.peak_flops=1e-300"], "peak_flops"),
    (["--set", "platform.gpu.hbm_capacity_bytes=inf"], "hbm_capacity_bytes"),
    # found by make fuzz: the PIM model divided by a per-token time that underflowed or overflowed to 0
    (["--system", "r-pim", "--set", "memory.dram.organisation.chips_per_rank=16867857"], "chips_per_rank"),
    (["--system", "r-pim", "--set", "memory.dram.timing.tRRD_L=1211"], "latency model"),
]


@pytest.mark.parametrize("extra,needle", ISSUE_CASES, ids=[" ".join(c[0]) for c in ISSUE_CASES])
def test_issue_cases_are_clean_errors(extra: list[str], needle: str) -> None:
    expect_error([*BASE, *extra], needle)


@pytest.mark.parametrize("args", [
    ["compare", "--systems", "gpu-only", "--model", "llama-2-7b", "--requests", "2", "--seed", "-1"],
    ["verify", "layout", "--seed", "-1"],
])
def test_negative_seed_elsewhere(args: list[str]) -> None:
    expect_error(args, "seed")


def test_azure_like_bubbles_are_never_negative() -> None:
    """Poisson arrivals leave the GPU idle between requests: the idle share lies in [0, 1]."""
    expect_sane_run([*BASE, "--arrival", "poisson:0.001"])


OPTION_TEXT = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.text(alphabet="0123456789-+.eEinfa ", max_size=12),
)
#: Request counts that finish quickly when valid; counts above the ceiling (10 million) must be errors.
REQUESTS = st.one_of(st.integers(min_value=-5, max_value=6), st.integers(min_value=10**7 + 1, max_value=10**30),
                     st.integers(max_value=-1))
ARRIVALS = st.one_of(
    st.builds(lambda r: f"poisson:{r}", OPTION_TEXT),
    st.builds(lambda r, c: f"gamma:{r}:{c}", OPTION_TEXT, OPTION_TEXT),
    st.builds(lambda s: f"trace:{s}", OPTION_TEXT),
    st.builds(lambda n: f"closed:{n}", OPTION_TEXT),
    st.text(max_size=20),
)


@FUZZ
@given(seed=OPTION_TEXT, requests=REQUESTS, tp=OPTION_TEXT, dp=OPTION_TEXT, arrival=ARRIVALS)
def test_numeric_options(seed: str, requests: int, tp: str, dp: str, arrival: str) -> None:
    args = [*BASE[:-2], "--requests", str(requests), "--seed", seed, "--tp", tp, "--dp", dp, "--arrival", arrival]
    expect_sane_run(args)


@FUZZ
@given(seed=st.integers(min_value=-(2**70), max_value=2**70))
def test_layout_seed(seed: int) -> None:
    expect_clean(["verify", "layout", "--seed", str(seed)], allowed=(0, 2))
