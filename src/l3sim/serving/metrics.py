"""From the replicas' tables and recordings to a RunResult: the metric definitions live here.

- throughput_tok_s: output tokens of served requests / makespan, where the
  makespan runs from the first served arrival to the last finish.
- steady_throughput_tok_s: output tokens per second over the steady window, which runs
  from the first served arrival to the end of the last iteration that began while a
  request was waiting for admission (a pre-empted one included) or had yet to arrive;
  after it the replica only drains (the batch shrinks as requests finish). Each replica
  has its own window; the run's figure is the sum of the replicas' rates (tokens produced
  in the window / its length). NaN when no replica's window has a length.
- ttft_s: first token time - arrival; e2e_s: finish - arrival (per request).
- tbt_s: every gap between two consecutive tokens of a request, token-weighted
  (a gap that includes a wait after pre-emption counts as it is).
- avg_batch_size: requests per iteration (decodes and prefills), averaged over iterations.
- iteration_latency_s: the duration of every iteration.
- kv_util_mean: stored KV tokens / capacity, time-weighted over the time the
  replicas iterate; kv_util_peak: most allocated blocks / capacity blocks.
- busy_fraction: busy time of each resource / (makespan x replicas); on disaggregated systems the
  resources are gpu, attention (decode attention compute) and pcie (communication on the attention
  stage's critical path: synchronous PCIe + the DDR-channel share).
- bubble_fraction: the idle share of each device while the replicas iterate: gpu = 1 - gpu busy /
  iterating time; attention = 1 - (attention + pcie busy) / iterating time (the attention stage).
- pcie_share: pcie busy time / (makespan x replicas), the paper's "PCIe overhead as a share of time".
- aggregates: run totals (output_tokens, prefill_tokens, decode_tokens, fc_flops, decode_kv_bytes_read,
  pcie_bytes, and busy_s_<resource> seconds).
- bound_s, losses_s, batch_time_mean, capacity_batch_time_mean: the run's bound-and-loss account
  (``account.py``), for systems that report its terms.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from l3sim.serving.account import AccountBasis, explain_run
from l3sim.serving.kvstore import KVStore
from l3sim.serving.recorder import Recorder
from l3sim.serving.result import RunResult
from l3sim.serving.series import QUANTILE_METHOD, SeriesSamples
from l3sim.serving.state import RequestTable


def _summary(values: np.ndarray) -> dict[str, float]:
    if values.size == 0:
        return {"mean": math.nan, "p50": math.nan, "p99": math.nan}
    p50, p99 = np.quantile(values, [0.5, 0.99], method=QUANTILE_METHOD)
    return {"mean": float(values.mean()), "p50": float(p50), "p99": float(p99)}


def _request_parts(arrays: dict[str, np.ndarray], never_fits: np.ndarray, tables: list[RequestTable]) -> list[dict]:
    """The per-request table in pieces (``RunResult.request_parts``): the never-fit requests, then each
    replica's served ones."""
    unfit = np.flatnonzero(never_fits)
    parts: list[dict] = [
        {
            "id": arrays["ids"][unfit],
            "replica": -1,
            "status": "never-fits",
            "arrival_s": arrays["arrival_s"][unfit],
            "prompt_tokens": arrays["prompt_tokens"][unfit],
            "output_tokens": arrays["output_tokens"][unfit],
            "ttft_s": math.nan,
            "tbt_mean_s": math.nan,
            "e2e_s": math.nan,
            "preemptions": 0,
        }
    ]
    for replica, t in enumerate(tables):
        with np.errstate(invalid="ignore", divide="ignore"):
            tbt_mean = (t.last_token_s - t.first_token_s) / (t.output_tokens - 1)
        parts.append(
            {
                "id": t.ids,
                "replica": replica,
                "status": "served",
                "arrival_s": t.arrival_s,
                "prompt_tokens": t.prompt_tokens,
                "output_tokens": t.output_tokens,
                "ttft_s": t.first_token_s - t.arrival_s,
                "tbt_mean_s": np.where(t.output_tokens > 1, tbt_mean, math.nan),
                "e2e_s": t.finish_s - t.arrival_s,
                "preemptions": t.preemptions,
            }
        )
    return parts


def _served_columns(parts: list[dict]) -> dict[str, np.ndarray]:
    """The served requests' columns in ``requests_table``'s order (by id; the sort is stable)."""
    served = parts[1:]
    columns = {name: np.concatenate([part[name] for part in served]) for name in
               ("id", "arrival_s", "output_tokens", "ttft_s", "e2e_s")}
    order = np.argsort(columns.pop("id"), kind="stable")
    return {name: values[order] for name, values in columns.items()}


def _skipna(reduce, values: np.ndarray) -> float:
    """``reduce`` (np.min or np.max) over the values that are not NaN, as pandas reduces a column: NaN only when
    every value is NaN."""
    finite = values[~np.isnan(values)]
    return float(reduce(finite)) if finite.size else math.nan


#: Rounding slack of a share computed as 1 - busy / time: sums of float times differ by a few ulps.
SHARE_ROUNDING = 1e-9


def _share(value: float) -> float:
    """``value`` with rounding excursions below 0 or above 1 (under SHARE_ROUNDING) snapped back to the bound;
    a larger excursion is kept, for ``checks.py`` to report."""
    if -SHARE_ROUNDING < value < 0.0:
        return 0.0
    if 1.0 < value < 1.0 + SHARE_ROUNDING:
        return 1.0
    return value


def _bubbles(busy: dict[str, float], iterating_s: float) -> dict[str, float]:
    if iterating_s <= 0:
        return {}
    out = {"gpu": _share(1.0 - busy.get("gpu", 0.0) / iterating_s)}
    if "attention" in busy:
        out["attention"] = _share(1.0 - (busy["attention"] + busy.get("pcie", 0.0)) / iterating_s)
    return out


def _steady_throughput(recorders: list[Recorder], start_s: float) -> float:
    """Sum over replicas of tokens produced in the steady window / the window's length (module docstring)."""
    rates = [r.steady_tokens / (r.steady_end_s - start_s) for r in recorders if r.steady_end_s > start_s]
    return sum(rates) if rates else math.nan


def _measured_tbt(tables: list[RequestTable], recorders: list[Recorder], tbt: SeriesSamples) -> SeriesSamples:
    """The token gaps of the measured requests: ``tbt`` itself when no table restricts them (``RequestTable.measured``)."""
    if all(t.measured is None for t in tables):
        return tbt
    measured = SeriesSamples()
    for table, rec in zip(tables, recorders):
        measured.extend(rec.tbt_s if table.measured is None else rec.tbt_measured_s)
    return measured


def summarise(
    labels: dict[str, Any],
    kv: KVStore,
    arrays: dict[str, np.ndarray],
    never_fits: np.ndarray,
    tables: list[RequestTable],
    recorders: list[Recorder],
    basis: AccountBasis | None = None,
) -> RunResult:
    """All metrics of a run (see the module docstring for their definitions)."""
    never_fit_ids = arrays["ids"][never_fits].tolist()
    warnings = []
    if never_fit_ids:
        shown = ", ".join(map(str, never_fit_ids[:20])) + (" ..." if len(never_fit_ids) > 20 else "")
        warnings.append(
            f"{len(never_fit_ids)} request(s) can never fit the KV cache of one replica "
            f"({kv.admissible_blocks * kv.block_tokens} tokens usable) and were not served: ids {shown}"
        )
    parts = _request_parts(arrays, never_fits, tables)
    result = RunResult(
        **labels,
        never_fit_ids=never_fit_ids,
        warnings=warnings,
        request_parts=parts,
        kv_capacity_tokens=kv.capacity_tokens,
    )
    served = _served_columns(parts)
    if not served["arrival_s"].size:
        return result
    tbt, iteration = SeriesSamples(), SeriesSamples()
    for rec in recorders:
        tbt.extend(rec.tbt_s)
        iteration.extend(rec.iteration_s)
    first_arrival = _skipna(np.min, served["arrival_s"])
    makespan = _skipna(np.max, served["arrival_s"] + served["e2e_s"]) - first_arrival
    iterations = sum(r.iterations for r in recorders)
    iterating_s = sum(r.iterating_s for r in recorders)
    busy: dict[str, float] = {}
    for rec in recorders:
        for name, value in rec.busy_s.items():
            busy[name] = busy.get(name, 0.0) + value
    result.requests_served = int(served["arrival_s"].size)
    result.output_tokens = int(served["output_tokens"].sum())
    result.makespan_s = makespan
    result.throughput_tok_s = result.output_tokens / makespan if makespan > 0 else math.nan
    result.steady_throughput_tok_s = _steady_throughput(recorders, first_arrival)
    result.iterations = iterations
    result.avg_batch_size = sum(r.batch_request_iterations for r in recorders) / iterations
    result.ttft_s = _summary(served["ttft_s"])
    result.e2e_s = _summary(served["e2e_s"])
    result.tbt_s = tbt.summary()
    result.tbt_samples = _measured_tbt(tables, recorders, tbt)
    result.iteration_latency_s = iteration.summary()
    result.preemptions = sum(r.preemptions for r in recorders)
    capacity_token_s = kv.capacity_tokens * iterating_s
    result.kv_util_mean = sum(r.kv_token_seconds for r in recorders) / capacity_token_s if capacity_token_s else math.nan
    result.kv_util_peak = max(r.kv_peak_blocks for r in recorders) / kv.capacity_blocks
    result.busy_fraction = {name: value / (makespan * len(recorders)) for name, value in busy.items()}
    result.bubble_fraction = _bubbles(busy, iterating_s)
    result.pcie_share = busy.get("pcie", 0.0) / (makespan * len(recorders))
    counts: dict[str, float] = {}
    for rec in recorders:
        for name, value in rec.counts.items():
            counts[name] = counts.get(name, 0.0) + value
    result.aggregates = {"output_tokens": float(result.output_tokens), **counts}
    result.aggregates.update({f"busy_s_{name}": value for name, value in busy.items()})
    result.timeline = [row for rec in recorders for row in rec.timeline]
    result.segment_rows = np.concatenate([r.to_rows() for r in recorders])
    account = explain_run(recorders, basis, makespan, kv.capacity_tokens)
    if account is not None:
        result.bound_s, result.losses_s = account.bound_s, account.losses_s
        result.batch_time_mean, result.capacity_batch_time_mean = account.batch_mean, account.capacity_batch_mean
    return result
