"""When ``warm_jit.CompiledAfter`` runs its function compiled: after ``after`` calls, or at once once this
process has run something compiled."""

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


def test_interpreted_for_the_first_calls_while_numba_is_not_loaded(monkeypatch):
    compiled_calls = _spied(monkeypatch, set())
    run = warm_jit.CompiledAfter(_scaled, 2)
    values = np.array([1.5, 2.0, -3.0])
    answers = [run(values, 0.1) for _ in range(2)]
    assert compiled_calls == []
    answers.append(run(values, 0.1))
    assert compiled_calls == [_scaled] and run.calls == 3
    assert all(answer.tolist() == (values * 0.1).tolist() for answer in answers)
    assert _scaled in warm_jit._loaded


def test_compiled_from_the_first_call_once_numba_is_loaded(monkeypatch):
    compiled_calls = _spied(monkeypatch, {len})  # something else ran compiled before
    run = warm_jit.CompiledAfter(_scaled, 1000)
    assert run(np.array([4.0]), 0.5).tolist() == [2.0]
    assert compiled_calls == [_scaled]
