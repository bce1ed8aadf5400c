"""When ``warm_jit.CompiledWhenLoaded`` runs its compiled function: once something has run compiled in the
process; its numpy twin before."""

from __future__ import annotations

import numpy as np

from l3sim.serving import warm_jit


def _scaled(values, factor):
    out = np.empty(values.size)
    for i in range(values.size):
        out[i] = values[i] * factor
    return out


def _spied(monkeypatch, loaded: set) -> list:
    monkeypatch.setattr(warm_jit, "_loaded", loaded)
    compiled_calls = []
    real = warm_jit.call_compiled

    def spy(function, *args):
        compiled_calls.append(function)
        return real(function, *args)

    monkeypatch.setattr(warm_jit, "call_compiled", spy)
    return compiled_calls


def _numpy_scaled(values, factor):
    return values * factor


def test_numpy_until_something_has_run_compiled_then_compiled(monkeypatch):
    compiled_calls = _spied(monkeypatch, set())
    run = warm_jit.CompiledWhenLoaded(_scaled, _numpy_scaled)
    values = np.array([1.5, 2.0, -3.0])
    first = run(values, 0.1)
    assert compiled_calls == [] and run.compiled_calls == 0
    warm_jit.call_compiled(_scaled, values, 0.1)  # numba is loaded now
    compiled_calls.clear()
    second = run(values, 0.1)
    assert compiled_calls == [_scaled] and run.compiled_calls == 1
    assert first.tolist() == second.tolist() == (values * 0.1).tolist()


def test_compiled_from_the_first_call_once_numba_is_loaded(monkeypatch):
    compiled_calls = _spied(monkeypatch, {len})  # something else ran compiled before
    run = warm_jit.CompiledWhenLoaded(_scaled, _numpy_scaled)
    assert run(np.array([4.0]), 0.5).tolist() == [2.0]  # the first compiled call's answer
    assert run(np.array([1.0, 3.0]), 2.0).tolist() == [2.0, 6.0]
    assert compiled_calls == [_scaled, _scaled] and run.compiled_calls == 2
