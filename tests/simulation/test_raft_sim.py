"""Seeded simulation of the raft quorum (strom.raft.sim): a campaign of 1,000 seeds keeps every
invariant, each planted bug is caught within that budget, runs are deterministic, and the
``strom dev simulate`` command reports a failing seed with a trace that reproduces it."""
from __future__ import annotations

from collections import Counter

import pytest

from strom.cli.main import main
from strom.raft.core import Bugs
from strom.raft.sim import SimConfig, run, short_trace, shrink

SEEDS = 1000
SAFETY = {"one leader per epoch", "one vote per epoch", "committed entry lost",
          "committed entry changed", "logs match", "high watermark went back",
          "high watermark beyond log"}


def test_a_thousand_seeds_keep_every_invariant_and_stay_live():
    failures = []
    totals: Counter[str] = Counter()
    shapes = set()
    for seed in range(SEEDS):
        result = run(seed)
        if not result.ok:
            failures.append(str(result.violation))
        totals.update(result.stats)
        totals["leaders"] += result.leaders
        totals["committed"] += result.committed
        totals["steps"] += result.steps
        shapes.add((result.voters, result.observers))
    assert failures == []
    # The campaign did exercise what it claims to.
    assert {v for v, _ in shapes} == {3, 5} and {o for _, o in shapes} >= {0, 1, 2}
    for stat in ("crashes", "restarts", "partitions", "cut_links", "resignations", "diverging",
                 "snapshots_installed", "voter_changes"):
        assert totals[stat] >= 50, (stat, totals)
    assert totals["leaders"] >= 3 * SEEDS and totals["committed"] >= 20 * SEEDS, totals


@pytest.mark.parametrize("bug, invariants", [
    ("double_vote", {"one vote per epoch"}),
    ("minority_high_watermark", {"committed entry lost", "committed entry changed"}),
    ("skip_truncation", {"logs match", "committed entry changed", "committed entry lost"}),
])
def test_each_planted_bug_is_caught_within_the_seed_budget(bug, invariants):
    config = SimConfig(bugs=Bugs(**{bug: True}))
    for seed in range(SEEDS):
        result = run(seed, config)
        if not result.ok:
            break
    else:
        pytest.fail(f"{bug} survived {SEEDS} seeds")
    assert result.violation.invariant in invariants, result.violation
    # The same seed fails the same way, and without the bug it passes.
    again = run(seed, config, trace=True)
    assert str(again.violation) == str(result.violation)
    assert again.trace[-1].endswith(f"{result.violation.invariant}: {result.violation.detail}")
    assert run(seed).ok


def test_the_same_seed_gives_the_same_run_step_for_step():
    for seed in (3, 42, 977):
        first, second = run(seed, trace=True), run(seed, trace=True)
        assert first.trace == second.trace and len(first.trace) > 100
        assert (first.steps, first.now, first.committed) == (second.steps, second.now, second.committed)
    assert run(3, trace=True).trace != run(4, trace=True).trace


def test_liveness_is_checked():
    """With a window of one election timeout instead of ten, some seeds cannot elect and
    commit in time (a follower needs a fetch timeout, two election timeouts, to notice)."""
    config = SimConfig(liveness_timeouts=1)
    verdicts = Counter(run(seed, config).violation.invariant if not run(seed, config).ok else "ok"
                       for seed in range(40))
    assert verdicts["liveness"] > 0 and set(verdicts) <= {"ok", "liveness"}, verdicts


def test_shrink_keeps_only_the_fault_kinds_a_failure_needs():
    config = SimConfig(bugs=Bugs(double_vote=True))
    seed = next(s for s in range(SEEDS) if not run(s, config).ok)
    small = shrink(seed, config)
    assert small.faults < config.faults
    assert not run(seed, small).ok
    trace = run(seed, small, trace=True).trace
    short = short_trace(trace)
    assert len(short) < len(trace) and short[-1] == trace[-1]


def test_cli_runs_a_campaign(capsys):
    assert main(["dev", "simulate", "--seeds", "25", "--seed", "100"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("25 seeds, 0 failed:")


def test_cli_reports_a_failing_seed_with_a_reproducing_command(capsys):
    assert main(["dev", "simulate", "--seeds", str(SEEDS), "--plant-bug", "double-vote"]) == 1
    captured = capsys.readouterr()
    out = captured.out
    assert "FAILED seed" in out and "one vote per epoch" in out
    assert "Error: SIMULATION_FAILED" in captured.err
    violation = next(line.strip() for line in out.splitlines() if line.strip().startswith("seed "))
    command = next(line for line in out.splitlines() if "reproduce:" in line).split("reproduce: ")[1]
    argv = command.split()[1:]  # drop "strom"
    assert "--trace" in argv
    assert main(argv) == 1
    rerun = capsys.readouterr().out
    assert violation in rerun  # the same step, the same time, the same invariant
