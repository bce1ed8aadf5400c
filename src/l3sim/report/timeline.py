"""Chrome trace-event JSON of a run (opens in Perfetto / chrome://tracing).

One process per replica; one thread (track) per device: ``gpu``, ``pcie`` and the attention device
(``pim rankset 0..R-1`` on DIMM-PIM systems, else the device's name). Events are complete events
(``"ph": "X"``) with ``ts`` / ``dur`` in microseconds. A recorded segment is k iterations of one plan:
its first iteration is emitted interval by interval; the remaining k - 1 iterations become one
summarised event per track (``"name": "k-1 iterations"``, ``args.iterations``). Segments are written in
time order, those in a window of the run (``--timeline-window START:END``, default the whole run), up to
``max_events`` events (``--timeline-max-events``, default 20,000); the trace's ``otherData`` says what was
cut: the window, the events outside it, the events the cap dropped and where the written part stops.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from l3sim.errors import ConfigError
from l3sim.serving.result import RunResult

TRACK_ORDER = ("gpu", "pcie")
MAX_EVENTS = 20_000
US = 1e6


def _tid(tracks: dict[str, int], name: str) -> int:
    if name not in tracks:
        tracks[name] = len(tracks) + 1
    return tracks[name]


Window = tuple[float | None, float | None]


def parse_window(text: str) -> Window:
    """``START:END`` in seconds (``--timeline-window``); either side may be empty (the run's start or end)."""
    start_text, sep, end_text = text.partition(":")
    if not sep:
        raise ConfigError(f"--timeline-window {text!r}: expected START:END in seconds, e.g. 100:200 or 3600:")
    bounds = []
    for side, value in (("START", start_text), ("END", end_text)):
        try:
            number = float(value) if value.strip() else None
        except ValueError:
            raise ConfigError(f"--timeline-window {text!r}: {side} must be a number of seconds, got {value!r}") \
                from None
        if number is not None and not (math.isfinite(number) and number >= 0):
            raise ConfigError(f"--timeline-window {text!r}: {side} must be a finite number >= 0, got {value!r}")
        bounds.append(number)
    start, end = bounds
    if start is not None and end is not None and end <= start:
        raise ConfigError(f"--timeline-window {text!r}: END must be after START")
    return start, end


def _in_window(start_s: float, end_s: float, window: Window) -> bool:
    """A segment [start_s, end_s] overlaps the window (a segment of zero length counts at its instant)."""
    low, high = window
    return (low is None or end_s >= low) and (high is None or start_s < high)


def _segment_event_count(k: int, phases: tuple) -> int:
    return len(phases) + (len({phase.track for phase in phases}) if k > 1 else 0)


def trace_events(result: RunResult, max_events: int | None = None, window: Window | None = None) -> dict:
    """The trace as a JSON-ready dict (``traceEvents`` plus ``otherData``).

    Segments are taken in time order (all replicas together); those overlapping ``window`` (seconds, either
    end open) are written whole, until the next one would take the events past ``max_events`` (default
    :data:`MAX_EVENTS`). ``otherData`` says what was cut: ``window_s``, ``events_outside_window``,
    ``max_events``, ``events_dropped`` (events of the window left out by the cap) and ``truncated_at_s``
    (where the written part stops; absent when nothing was dropped).
    """
    cap = MAX_EVENTS if max_events is None else max_events
    span = window or (None, None)
    events: list[dict] = []
    tracks: dict[int, dict[str, int]] = {}
    truncated_at = None
    outside = dropped = 0
    for replica, start, end, k, phases in sorted(result.timeline, key=lambda seg: (seg[1], seg[0])):
        count = _segment_event_count(k, phases)
        if not _in_window(start, end, span):
            outside += count
            continue
        if truncated_at is not None or len(events) + count > cap:
            truncated_at = start if truncated_at is None else truncated_at
            dropped += count
            continue
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
    other = {
        "system": result.system,
        "model": result.model,
        "workload": result.workload,
        "makespan_s": result.makespan_s,
        "window_s": list(span),
        "events_outside_window": outside,
        "max_events": cap,
        "events_written": len(events),
        "events_dropped": dropped,
    }
    if truncated_at is not None:
        other["truncated_at_s"] = truncated_at
    return {"traceEvents": meta + events, "displayTimeUnit": "ms", "otherData": other}


def write_timeline(result: RunResult, path: Path, max_events: int | None = None, window: Window | None = None) -> Path:
    """Write the Chrome trace JSON of ``result`` to ``path`` (``trace_events`` says what is kept)."""
    from l3sim.outputs import write_text

    return write_text(path, json.dumps(trace_events(result, max_events, window)), "timeline")
