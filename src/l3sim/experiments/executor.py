"""Run one function over many specs: one interface, three backends (serial, joblib, Ray).

An executor is a context manager with one method, ``map(run_fn, specs)``, that
yields ``(index, Outcome)`` pairs as the runs finish (in completion order, not
input order), so a caller can store each result the moment it exists.
``run_fn`` must be a top-level (picklable) function ``run_fn(spec_dict) -> dict``.

Failures are data, not exceptions: the worker wraps every call, and an
exception becomes an :class:`Outcome` with ``status`` "error" (an
:class:`~l3sim.errors.L3SimError`, a deliberate verdict on the spec such as
"does not fit", deterministic, stored like a result) or "crashed" (anything
else: a bug or a transient fault, reported but not stored, so a rerun retries
it). ``KeyboardInterrupt`` is never caught.

Backends (:data:`BACKENDS`):

- ``serial``: in this process, in order; for debugging and tests.
- ``joblib`` (default): local worker processes (loky), results streamed back
  unordered as they finish.
- ``ray``: an existing Ray cluster (``address="HOST:PORT"`` or ``"auto"``) or,
  with no address, a local Ray started for the sweep. An address that cannot be
  reached raises :class:`~l3sim.errors.ConfigError` on entering the context,
  before anything is written.
"""

from __future__ import annotations

import os
import socket
import time
import traceback
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Mapping, Sequence

from l3sim.errors import ConfigError, L3SimError, MissingDependencyError
from l3sim.fast_exit import freeze_heap_at_exit

RunFn = Callable[[dict[str, Any]], Mapping[str, Any]]

#: Seconds to wait for a TCP connection to a Ray head before declaring it unreachable.
RAY_PROBE_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class Outcome:
    """What one run produced: its metrics, or why it has none, and how long it took (wall seconds)."""

    status: str  # "ok" | "error" | "crashed"
    metrics: dict[str, Any] = field(default_factory=dict)
    error: str = ""
    elapsed_s: float = 0.0


def run_one(run_fn: RunFn, spec: dict[str, Any]) -> Outcome:
    """Call ``run_fn(spec)`` and turn its result or exception into an :class:`Outcome` (runs in the worker)."""
    start = time.perf_counter()
    try:
        metrics = dict(run_fn(spec))
    except L3SimError as exc:
        return Outcome("error", error=f"{type(exc).__name__}: {exc}", elapsed_s=time.perf_counter() - start)
    except Exception as exc:  # noqa: BLE001 - any other failure is reported as a crash, with its traceback
        detail = "".join(traceback.format_exception_only(type(exc), exc)).strip()
        tail = traceback.format_exc(limit=-3)
        return Outcome("crashed", error=f"{detail}\n{tail}", elapsed_s=time.perf_counter() - start)
    return Outcome("ok", metrics=metrics, elapsed_s=time.perf_counter() - start)


def _indexed(run_fn: RunFn, index: int, spec: dict[str, Any]) -> tuple[int, Outcome]:
    return index, run_one(run_fn, spec)


def _indexed_in_worker(run_fn: RunFn, index: int, spec: dict[str, Any]) -> tuple[int, Outcome]:
    """``_indexed`` in a local worker process, whose exit (awaited by the pool) then skips the final garbage
    collections (``l3sim.fast_exit``); never in the caller's own process."""
    freeze_heap_at_exit()
    return _indexed(run_fn, index, spec)


class SerialExecutor:
    """Runs every spec in this process, in order."""

    name = "serial"

    def __enter__(self) -> SerialExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def map(self, run_fn: RunFn, specs: Sequence[dict[str, Any]]) -> Iterator[tuple[int, Outcome]]:
        for index, spec in enumerate(specs):
            yield _indexed(run_fn, index, spec)


class JoblibExecutor:
    """Local worker processes (joblib's loky backend); results come back as each run finishes."""

    name = "joblib"

    def __init__(self, jobs: int | None = None) -> None:
        if jobs is not None and jobs < 1:
            raise ConfigError(f"jobs: expected a positive number of worker processes, got {jobs}")
        self.jobs = jobs or os.cpu_count() or 1

    def __enter__(self) -> JoblibExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def map(self, run_fn: RunFn, specs: Sequence[dict[str, Any]]) -> Iterator[tuple[int, Outcome]]:
        from joblib import Parallel, delayed

        if not specs:
            return
        parallel = Parallel(n_jobs=min(self.jobs, len(specs)), backend="loky", return_as="generator_unordered")
        yield from parallel(delayed(_indexed_in_worker)(run_fn, index, spec) for index, spec in enumerate(specs))


def probe_address(address: str, timeout_s: float = RAY_PROBE_TIMEOUT_S) -> None:
    """Raise ConfigError unless a TCP connection to ``HOST:PORT`` opens within ``timeout_s``."""
    host, sep, port_text = address.rpartition(":")
    if not sep or not host or not port_text.isdigit():
        raise ConfigError(f"ray address {address!r}: expected HOST:PORT or 'auto'")
    try:
        with socket.create_connection((host, int(port_text)), timeout=timeout_s):
            pass
    except OSError as exc:
        raise ConfigError(f"ray address {address!r} cannot be reached within {timeout_s:g} s: {exc}") from None


class RayExecutor:
    """Tasks on a Ray cluster: an existing one (``address``) or a local one started on entry and stopped on exit."""

    name = "ray"

    def __init__(self, address: str | None = None, jobs: int | None = None) -> None:
        self.address = address
        self.jobs = jobs  # CPUs of a local Ray; ignored when connecting to a cluster
        self._started = False

    def __enter__(self) -> RayExecutor:
        try:
            import ray
        except ImportError:
            raise MissingDependencyError("the ray backend needs the ray extra: pip install 'l3sim[ray]'") from None
        if ray.is_initialized():  # the caller manages Ray; use it as it is
            return self
        if self.address and self.address != "auto":
            probe_address(self.address)
        try:
            if self.address:
                ray.init(address=self.address, log_to_driver=False)
            else:
                ray.init(num_cpus=self.jobs, include_dashboard=False, log_to_driver=False)
        except ConnectionError as exc:
            raise ConfigError(f"ray address {self.address!r}: cannot connect: {exc}") from None
        self._started = True
        return self

    def __exit__(self, *exc: object) -> None:
        if self._started:
            import ray

            ray.shutdown()
            self._started = False

    def map(self, run_fn: RunFn, specs: Sequence[dict[str, Any]]) -> Iterator[tuple[int, Outcome]]:
        import ray

        remote = ray.remote(_indexed)
        fn_ref = ray.put(run_fn)
        pending = [remote.remote(fn_ref, index, spec) for index, spec in enumerate(specs)]
        try:
            while pending:
                ready, pending = ray.wait(pending, num_returns=1)
                yield ray.get(ready[0])
        finally:
            for ref in pending:  # interrupted: do not leave work running on the cluster
                ray.cancel(ref)


BACKENDS: dict[str, Callable[..., Any]] = {
    "serial": lambda address, jobs: SerialExecutor(),
    "joblib": lambda address, jobs: JoblibExecutor(jobs),
    "ray": lambda address, jobs: RayExecutor(address, jobs),
}


def make_executor(backend: str = "joblib", *, address: str | None = None, jobs: int | None = None):
    """The executor of ``backend``; ``address`` is for Ray only, ``jobs`` caps local worker processes."""
    if backend not in BACKENDS:
        raise ConfigError(f"backend {backend!r}: expected one of {', '.join(BACKENDS)}")
    if address is not None and backend != "ray":
        raise ConfigError(f"--address is for the ray backend, not {backend!r}")
    return BACKENDS[backend](address, jobs)
