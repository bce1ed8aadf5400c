"""The console script and every local sweep worker freeze the heap on their way out (``l3sim.fast_exit``): the
interpreter's last garbage collections would otherwise rescan every imported library's objects (a few tenths
of a second a process). A process that only calls the API (a notebook, a serial sweep) is left alone."""

from __future__ import annotations

import subprocess
import sys
import textwrap


def _run(script: str) -> list[str]:
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(script)], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().splitlines()


def test_main_freezes_the_heap_at_exit_not_before():
    # An exit handler registered before main() runs after main's own (exit handlers run last-in first-out),
    # so it sees the frozen heap; right after main() returns nothing is frozen yet.
    lines = _run("""
        import atexit, gc, sys
        atexit.register(lambda: print("at exit", gc.get_freeze_count() > 0, flush=True))
        from l3sim.cli import main
        for _ in range(2):
            sys.argv = ["l3sim", "presets", "models", "--json"]
            try:
                main()
            except SystemExit:
                pass
        print("after main", gc.get_freeze_count(), flush=True)
    """)
    assert lines[-2:] == ["after main 0", "at exit True"]


def test_a_process_that_does_not_run_main_is_not_frozen():
    lines = _run("""
        import atexit, gc
        import l3sim.cli
        atexit.register(lambda: print("at exit", gc.get_freeze_count(), flush=True))
    """)
    assert lines == ["at exit 0"]


def test_a_worker_freezes_at_exit_and_a_serial_sweep_does_not():
    # _indexed_in_worker is what a local worker process runs for each point; the serial executor runs run_one
    # in the caller's own process, which must keep its exit as it was
    worker = _run("""
        import atexit, gc
        atexit.register(lambda: print("at exit", gc.get_freeze_count() > 0, flush=True))
        from l3sim.experiments.executor import _indexed_in_worker
        index, outcome = _indexed_in_worker(lambda spec: {"x": 1}, 3, {})
        print(index, outcome.status, gc.get_freeze_count(), flush=True)
    """)
    assert worker == ["3 ok 0", "at exit True"]
    serial = _run("""
        import atexit, gc
        atexit.register(lambda: print("at exit", gc.get_freeze_count() > 0, flush=True))
        from l3sim.experiments.executor import SerialExecutor
        with SerialExecutor() as executor:
            print([outcome.status for _, outcome in executor.map(lambda spec: {"x": 1}, [{}, {}])], flush=True)
    """)
    assert serial == ["['ok', 'ok']", "at exit False"]
