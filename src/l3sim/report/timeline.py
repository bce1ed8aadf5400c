"""Chrome trace-event JSON of a run (opens in Perfetto / chrome://tracing).

One process per replica; one thread (track) per device: ``gpu``, ``pcie`` and the attention device
(``pim rankset 0..R-1`` on DIMM-PIM systems, else the device's name). Events are complete events
(``"ph": "X"``) with ``ts`` / ``dur`` in microseconds. A recorded segment is k iterations of one plan:
its first iteration is emitted interval by interval; the remaining k - 1 iterations become one
summarised event per track (``"name": "k-1 iterations"``, ``args.iterations``). At most
``max_events`` events are written (default 20,000); the rest of the run is left out and the trace's
metadata says where it stops (``otherData.truncated_at_s``).
"""

from __future__ import annotations

import json
from pathlib import Path

from l3sim.serving.result import RunResult

TRACK_ORDER = ("gpu", "pcie")
MAX_EVENTS = 20_000
US = 1e6


def _tid(tracks: dict[str, int], name: str) -> int:
    if name not in tracks:
        tracks[name] = len(tracks) + 1
    return tracks[name]


def trace_events(result: RunResult, max_events: int = MAX_EVENTS) -> dict:
    """The trace as a JSON-ready dict (``traceEvents`` plus ``otherData``)."""
    events: list[dict] = []
    tracks: dict[int, dict[str, int]] = {}
    truncated_at = None
    for replica, start, end, k, phases in result.timeline:
        if len(events) >= max_events:
            truncated_at = start
            break
        own = tracks.setdefault(replica, {name: i + 1 for i, name in enumerate(TRACK_ORDER)})
        iteration_end = start
        for phase in phases:
            events.append(
                {
                    "name": phase.label,
                    "ph": "X",
                    "pid": replica,
                    "tid": _tid(own, phase.track),
                    "ts": (start + phase.start_s) * US,
                    "dur": phase.duration_s * US,
                }
            )
            iteration_end = max(iteration_end, start + phase.start_s + phase.duration_s)
        if k > 1:
            for track in sorted({phase.track for phase in phases}):
                events.append(
                    {
                        "name": f"{k - 1} iterations",
                        "ph": "X",
                        "pid": replica,
                        "tid": _tid(own, track),
                        "ts": iteration_end * US,
                        "dur": max(end - iteration_end, 0.0) * US,
                        "args": {"iterations": k - 1, "summarised": True},
                    }
                )
    meta: list[dict] = []
    for replica, own in tracks.items():
        meta.append({"name": "process_name", "ph": "M", "pid": replica, "args": {"name": f"replica {replica}"}})
        meta.extend(
            {"name": "thread_name", "ph": "M", "pid": replica, "tid": tid, "args": {"name": name}}
            for name, tid in own.items()
        )
    other = {"system": result.system, "model": result.model, "workload": result.workload}
    if truncated_at is not None:
        other["truncated_at_s"] = truncated_at
    return {"traceEvents": meta + events, "displayTimeUnit": "ms", "otherData": other}


def write_timeline(result: RunResult, path: Path, max_events: int = MAX_EVENTS) -> Path:
    """Write the Chrome trace JSON of ``result`` to ``path``."""
    from l3sim.outputs import write_text

    return write_text(path, json.dumps(trace_events(result, max_events)), "timeline")
