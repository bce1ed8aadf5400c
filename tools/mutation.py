"""Mutation testing of l3sim's core modules with mutmut, one module group at a time (``make mutation``).

Why a driver: mutmut reads one ``[tool.mutmut]`` table, runs its stats pass over every test the table
selects, and then, for each mutant, the tests that ran the mutated function. Running the whole suite for
every group would take hours on a small machine; each group here names the test files that exercise it
(mutmut's ``pytest_add_cli_args_test_selection``), so a group costs minutes. Each group runs in its own
folder under ``build/mutation/<group>`` (a copy of ``src``, ``tests`` and ``pyproject.toml`` with the
group's mutmut table appended), so runs of different groups never share mutmut's state and the work tree
is left alone.

    python tools/mutation.py                 # every group that is not marked deferred
    python tools/mutation.py engine kvstore  # these groups
    python tools/mutation.py --list          # the groups, their modules and tests
    python tools/mutation.py --recheck energy  # re-run each survivor of a finished group in a fresh process
    python tools/mutation.py --rev HEAD pim  # mutate the last commit, not a work tree others are editing
    python tools/mutation.py --recheck pim --only rank_pu --tests tests/hw/pim/test_pim_latency_by_hand.py

Per group it prints mutmut's counts (killed, survived, no tests, timeout, ...) and the score
killed / (all - skipped), writes them to ``build/mutation/<group>/stats.json`` and the surviving mutants'
names to ``build/mutation/<group>/survivors.txt`` (``mutmut show NAME`` in that folder shows the diff).
``--recheck`` runs each survivor again in a fresh interpreter with the mutant switched on before import
(``MUTANT_UNDER_TEST``, the mutated ``src`` first on ``PYTHONPATH``) and the group's tests: mutmut imports
the modules once before it forks, so a mutant in code that runs at import (a table of closures built by a
factory function) is never in effect under mutmut, and under heavy load mutmut's fork pool has reported
mutants as surviving that fail the tests when run alone. The recheck writes ``recheck.json`` (name ->
killed / survived). docs/testing.md keeps the scores and the reason each survivor is equivalent or the test that now kills it.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "build" / "mutation"


@dataclass(frozen=True)
class Group:
    """Modules mutated together and the test files that exercise them."""

    modules: tuple[str, ...]
    tests: tuple[str, ...]
    deferred: str = ""  # why the group is not run by default ("" = run)
    extra: dict = field(default_factory=dict)  # further [tool.mutmut] settings
    recheck_k: str = ""  # pytest -k expression for --recheck (leave out slow property tests)
    pytest_args: tuple[str, ...] = ()  # further pytest arguments of every run (e.g. -k to leave out slow tests)


SERVING = "tests/serving"
ENGINE_TESTS = (f"{SERVING}/test_serving_engine.py", f"{SERVING}/test_engine_stalled_decodes.py",
                f"{SERVING}/test_engine_guards.py", f"{SERVING}/test_serving_kvstore.py")

GROUPS: dict[str, Group] = {
    "kvstore": Group(("src/l3sim/serving/kvstore.py",), ENGINE_TESTS),
    # a run's metrics: the closed-form series statistics, the summary and the result's tables built at first use
    # (the subprocess runs that check pandas stays unimported import the working tree, not the mutants: left out)
    "metrics": Group(
        ("src/l3sim/serving/series.py", "src/l3sim/serving/metrics.py", "src/l3sim/serving/result.py"),
        (f"{SERVING}/test_serving_series.py", f"{SERVING}/test_serving_result_tables.py",
         f"{SERVING}/test_serving_metrics_by_hand.py", f"{SERVING}/test_serving_engine.py", f"{SERVING}/test_engine_by_hand.py", f"{SERVING}/test_serving_steady.py",
         f"{SERVING}/test_slo_capacity.py"),
        pytest_args=("-k", "not import_pandas"),
    ),
    # test_engine_by_hand.py: the engine's records on an exact toy system, with a plan bound that turns a
    # mutant that stops the engine advancing into a failure instead of a timeout
    "engine": Group(("src/l3sim/serving/engine.py",), (*ENGINE_TESTS, f"{SERVING}/test_engine_by_hand.py",
                                                       f"{SERVING}/test_request_advance.py")),
    "schedulers": Group(
        ("src/l3sim/serving/schedulers/continuous.py", "src/l3sim/serving/schedulers/subbatch.py",
         "src/l3sim/serving/schedulers/capacity_first.py"),
        (f"{SERVING}/test_scheduler_plans_by_hand.py", *ENGINE_TESTS[:3], f"{SERVING}/test_scheduler_limits.py",
         f"{SERVING}/test_serving_systems.py"),
        pytest_args=("-k", "not l3"),  # the L3 scheduler's runs (tens of seconds each) belong to group l3
    ),
    "l3": Group(
        ("src/l3sim/serving/schedulers/l3.py",),
        (f"{SERVING}/test_l3_scheduler_policy.py", f"{SERVING}/test_l3_scheduler_behaviour.py",
         f"{SERVING}/test_l3_scheduler_engine.py", f"{SERVING}/test_l3_learned_predictor.py",
         f"{SERVING}/test_l3_scheduler_admission.py", f"{SERVING}/test_l3_kernel.py"),
        # test_l3_kernel.py runs form_sub_batches_compiled (l3.py's glue around the numba policy, which is not
        # mutated: mutmut's trampolines cannot be compiled) against form_sub_batches.
        # The two pre-emption runs (closed form against stepping, ~6 s each with their fits) are two thirds of
        # the selection's time; --recheck --tests with the engine file runs them on the survivors
        pytest_args=("-k", "not preemption"),
    ),
    # the cost models; registry.py and catalog/ (declarations built at import, which mutmut cannot switch) are
    # left out, as are the runs that train the L3 forests ([l3]) and the CLI run: tens of seconds per mutant
    "systems": Group(
        ("src/l3sim/serving/systems/disaggregated.py", "src/l3sim/serving/systems/gpu_only.py",
         "src/l3sim/serving/systems/accounting.py", "src/l3sim/serving/systems/fc_memo.py"),
        (f"{SERVING}/test_serving_systems.py", f"{SERVING}/test_serving_gpu_only.py",
         f"{SERVING}/test_dimm_layer_split.py", f"{SERVING}/test_serving_account.py",
         f"{SERVING}/test_systems_by_hand.py"),
        pytest_args=("-k", "not l3 and not cli_run"),
    ),
    # the disaggregated systems' least-loaded placement: the plain-Python function, run interpreted (its compiled
    # runs are left out: mutmut's trampolines cannot be compiled)
    "placement": Group(
        ("src/l3sim/serving/systems/slot_placement.py",),
        ("tests/fuzz/test_fuzz_placement.py", f"{SERVING}/test_systems_by_hand.py"),
        pytest_args=("-k", "not compiled"),
    ),
    # the engine's and the disaggregated systems' plain-Python hot loops, run interpreted (their compiled runs and
    # the switch to them are left out: mutmut's trampolines cannot be compiled), and the switch itself
    "hot-loops": Group(
        ("src/l3sim/serving/request_advance.py", "src/l3sim/serving/systems/decode_stage.py",
         "src/l3sim/serving/warm_jit.py"),
        (f"{SERVING}/test_request_advance.py", f"{SERVING}/test_decode_stage.py", f"{SERVING}/test_warm_jit.py"),
        pytest_args=("-k", "not compiled or warm_jit"),
    ),
    "energy": Group(("src/l3sim/hw/energy.py",), ("tests/hw/test_energy_model.py", "tests/hw/test_energy_by_hand.py",
                                                  "tests/hw/test_energy_inputs.py", "tests/hw/test_energy_systems.py"),
                    recheck_k="not more_output_tokens and not redrawn and not matches_brute_force"),
    # hw/gpu in two parts, each with its own tests (all of hw/gpu at once is slow on a small machine): gpu is
    # every module but the calibrated model and its fits, which are gpu-calibrated. The AttAcc all-reduce
    # against the monotone floor (~20 s, the whole Vidur all-reduce profile through AttAcc's model) is left
    # out of every run; the all-reduce tests and test_gpu_by_hand.py pin that formula by hand. attacc_gemm.py (the
    # AttAcc GEMM and its tile searches) runs compiled by numba, which mutmut's trampolines cannot be: not mutated;
    # test_gpu_attacc_tiles.py compares it with AttAcc's full-grid loops, written out in the test.
    "gpu": Group(
        tuple(f"src/l3sim/hw/gpu/{name}.py" for name in (
            "attacc", "attention", "collectives", "cost_model", "operators", "roofline", "sources", "step",
            "memory", "measured", "profile_points", "validation")),
        tuple(f"tests/hw/test_gpu_{name}.py" for name in (
            "allreduce", "attacc", "attention", "memory", "profile_source", "roofline", "step_cli",
            "validate_cli", "validate_targets", "by_hand", "attacc_tiles", "operators_rows")),
        pytest_args=("-k", "not (monotone_floor and attacc)"),
    ),
    "gpu-calibrated": Group(
        ("src/l3sim/hw/gpu/calibrated.py", "src/l3sim/hw/gpu/fit.py", "src/l3sim/hw/gpu/noise_floor.py"),
        ("tests/hw/test_gpu_calibrated.py", "tests/hw/test_gpu_fit.py", "tests/hw/test_gpu_noise_floor.py"),
    ),
    "pim": Group(
        ("src/l3sim/hw/pim/latency.py", "src/l3sim/hw/pim/plan.py"),
        ("tests/hw/pim/test_pim_fast_model.py", "tests/hw/pim/test_pim_closed_form_oracle.py",
         "tests/hw/pim/test_pim_mapping.py", "tests/hw/pim/test_pim_refresh_cost.py",
         "tests/hw/pim/test_pim_latency_by_hand.py",
         "tests/hw/pim/test_pim_engine_agreement.py", "tests/hw/test_energy_by_hand.py"),
    ),
    # the rule table and the engine's driver: plain Python. The numba kernels (fifo_kernel, controller_kernel)
    # are not mutated (mutmut's trampolines cannot be compiled); they run compiled, as the tests run them. Nearly
    # every DRAM test calls timing_rules, so each rule mutant runs the whole selection: it is kept to the JEDEC
    # oracle, the closed forms, the checker and the by-hand file (the controller's own tests, the traces and the
    # two slowest random runs, 4 s and 2 s, are left out; they add nothing the oracle does not pin about the rules).
    "dram": Group(
        ("src/l3sim/hw/dram/rules.py", "src/l3sim/hw/dram/engine.py"),
        tuple(f"tests/hw/dram/test_dram_{name}.py" for name in (
            "rule_oracle", "rules_mutants", "closed_form", "refresh_phase", "checker", "frfcfs")),
        pytest_args=("-k", "not every_delayed_command and not random_requests_pass"),
    ),
}


def _mutmut_table(group: Group) -> str:
    """The ``[tool.mutmut]`` table of ``group`` (TOML)."""
    def toml_list(items) -> str:
        return "[" + ", ".join(json.dumps(item) for item in items) + "]"

    lines = ["", "[tool.mutmut]", 'source_paths = ["src"]', f"only_mutate = {toml_list(group.modules)}",
             f"pytest_add_cli_args_test_selection = {toml_list(_expand(group.tests))}",
             f"pytest_add_cli_args = {toml_list(['-p', 'no:cacheprovider', '-x', '-q', *group.pytest_args])}"]
    lines += [f"{key} = {json.dumps(value)}" for key, value in group.extra.items()]
    return "\n".join(lines) + "\n"


def _expand(patterns) -> list[str]:
    """Test paths with shell globs expanded against the repository (pytest takes no globs)."""
    out: list[str] = []
    for pattern in patterns:
        matches = sorted(str(p.relative_to(ROOT)) for p in ROOT.glob(pattern)) if "*" in pattern else [pattern]
        out += matches
    return out


def _prepare(name: str, group: Group, rev: str = "") -> Path:
    """A fresh folder for ``group``: src, tests, pyproject.toml with the group's mutmut table.

    ``rev`` (a git revision) takes the three from that commit instead of the work tree: in a work tree that
    others are editing, a half-made change elsewhere in ``src`` can break the group's tests at collection.
    """
    where = WORK / name
    if where.exists():
        shutil.rmtree(where)
    where.mkdir(parents=True)
    if rev:
        archive = subprocess.run(["git", "archive", rev, "src", "tests", "pyproject.toml"], cwd=ROOT,
                                 capture_output=True, check=True).stdout
        subprocess.run(["tar", "-x", "-C", str(where)], input=archive, check=True)
    else:
        ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".hypothesis", ".pytest_cache")
        shutil.copytree(ROOT / "src", where / "src", ignore=ignore)
        shutil.copytree(ROOT / "tests", where / "tests", ignore=ignore)
        shutil.copy(ROOT / "pyproject.toml", where / "pyproject.toml")
    pyproject = (where / "pyproject.toml").read_text(encoding="utf-8")
    (where / "pyproject.toml").write_text(pyproject + _mutmut_table(group), encoding="utf-8")
    return where


def _mutmut(where: Path, *args: str) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).with_name("mutmut")
    env = {**os.environ, "NUMBA_CACHE_DIR": str(where / ".numba_cache")}
    return subprocess.run([str(exe), *args], cwd=where, env=env, text=True, capture_output=True)


def run_group(name: str, group: Group, children: int, rev: str = "") -> dict:
    """Run mutmut on ``group``; return its counts and score, and write stats.json and survivors.txt."""
    where = _prepare(name, group, rev)
    done = _mutmut(where, "run", "--max-children", str(children))
    if done.returncode != 0:
        sys.stderr.write(done.stdout[-4000:] + done.stderr[-4000:])
        raise SystemExit(f"mutmut failed on group {name!r} (exit {done.returncode})")
    _mutmut(where, "export-cicd-stats")
    stats = json.loads((where / "mutants" / "mutmut-cicd-stats.json").read_text())
    considered = stats["total"] - stats["skipped"]
    stats["score"] = stats["killed"] / considered if considered else float("nan")
    results = _mutmut(where, "results").stdout
    survivors = [line.split(":")[0].strip() for line in results.splitlines()
                 if line.strip().endswith(("survived", "no tests", "timeout", "suspicious"))]
    (where / "stats.json").write_text(json.dumps(stats, indent=2))
    (where / "survivors.txt").write_text("\n".join(survivors) + "\n")
    return stats


def recheck(name: str, group: Group, only: str = "", tests: tuple[str, ...] = (), children: int = 1) -> dict[str, str]:
    """Re-run each survivor of ``group`` (``survivors.txt``) alone in a fresh process; write recheck.json.

    ``tests`` replaces the group's test selection (e.g. only a new test file, to confirm quickly that it kills
    the mutants it was written for; a survivor of that is re-run with the group's tests before it is called
    alive). ``children`` survivors are re-run at a time.
    """
    where = WORK / name
    mutants = where / "mutants"
    selection = _expand(tests) if tests else _expand(group.tests)
    for path in selection:  # the current version of the selected tests (the rest, conftest included, as run)
        if (ROOT / path).is_dir():
            shutil.copytree(ROOT / path, mutants / path, dirs_exist_ok=True,
                            ignore=shutil.ignore_patterns("__pycache__", "*.pyc", ".hypothesis", ".pytest_cache"))
        else:
            (mutants / path).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(ROOT / path, mutants / path)
    no_tests = {line.split(":")[0].strip() for line in _mutmut(where, "results").stdout.splitlines()
                if line.strip().endswith("no tests")}
    k_args = [] if tests else (["-k", group.recheck_k] if group.recheck_k else [])

    def run(mutant: str) -> str:
        if mutant in no_tests and not tests:  # no selected test runs the function: nothing to re-run
            return "no tests"
        env = {**os.environ, "MUTANT_UNDER_TEST": mutant, "PYTHONPATH": str(mutants / "src"),
               "NUMBA_CACHE_DIR": str(where / ".numba_cache")}
        done = subprocess.run([sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider",
                               *(() if tests else group.pytest_args), *k_args, *selection],
                              cwd=mutants, env=env, text=True, capture_output=True)
        return "survived" if done.returncode == 0 else "killed"

    chosen = [m for m in (where / "survivors.txt").read_text().split() if not only or re.search(only, m)]
    verdicts: dict[str, str] = {}
    with ThreadPoolExecutor(max(1, children)) as pool:
        for mutant, verdict in zip(chosen, pool.map(run, chosen)):
            verdicts[mutant] = verdict
            print(f"{mutant}: {verdict}", flush=True)
    previous = where / "recheck.json"
    # a survivor of a narrower selection (``tests``) is not alive until the group's tests have run on it
    merged = {**(json.loads(previous.read_text()) if previous.exists() else {}),
              **{m: v for m, v in verdicts.items() if v == "killed" or not tests}}
    previous.write_text(json.dumps(merged, indent=2))
    return verdicts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("groups", nargs="*", help=f"groups to run (default: all not deferred): {', '.join(GROUPS)}")
    parser.add_argument("--list", action="store_true", help="list the groups and exit")
    parser.add_argument("--recheck", action="store_true", help="re-run the survivors of finished groups alone")
    parser.add_argument("--only", default="", help="with --recheck: only survivors whose name matches this regex")
    parser.add_argument("--tests", nargs="+", default=(), help="with --recheck: these test files instead of the "
                                                               "group's")
    parser.add_argument("--children", type=int, default=os.cpu_count() or 1, help="mutmut worker processes")
    parser.add_argument("--rev", default="", help="mutate src and tests of this git revision (e.g. HEAD), not the "
                                                  "work tree")
    args = parser.parse_args(argv)
    if args.list:
        for name, group in GROUPS.items():
            note = f"  [deferred: {group.deferred}]" if group.deferred else ""
            print(f"{name}: {', '.join(group.modules)} <- {', '.join(group.tests)}{note}")
        return 0
    unknown = [name for name in args.groups if name not in GROUPS]
    if unknown:
        parser.error(f"unknown group(s) {', '.join(unknown)}; known: {', '.join(GROUPS)}")
    names = args.groups or [name for name, group in GROUPS.items() if not group.deferred]
    if args.recheck:
        for name in names:
            verdicts = recheck(name, GROUPS[name], args.only, tuple(args.tests), args.children)
            alive = sum(v != "killed" for v in verdicts.values())
            print(f"{name}: {len(verdicts) - alive} of {len(verdicts)} survivors killed on recheck", flush=True)
        return 0
    for name in names:
        stats = run_group(name, GROUPS[name], args.children, args.rev)
        print(f"{name}: score {stats['score']:.1%} (killed {stats['killed']} of {stats['total']}; survived "
              f"{stats['survived']}, no tests {stats['no_tests']}, timeout {stats['timeout']}, "
              f"suspicious {stats['suspicious']}, skipped {stats['skipped']})", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
