"""``strom dev simulate``: run the deterministic raft simulation over many seeds.

Each seed runs 3 or 5 voters (and observers) of the raft core with a seeded RNG, a virtual clock
and a faulty in-memory network (:mod:`strom.raft.sim`), checking the safety invariants after every
step and liveness once a majority is stable. Seeds ``--seed`` .. ``--seed + --seeds - 1`` run in
order; the first failing seed stops the campaign (exit 1) and is reported with the invariant it
broke, the smallest set of fault kinds that still breaks it, the command that reproduces it and a
shortened trace (``--trace`` prints the whole trace). ``--plant-bug`` switches on one of the
planted bugs, to see the simulator catch it.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from typing import Any

from strom.cli._common import CliError, add_format_argument, is_terminal, non_negative_int, positive_int
from strom.raft.core import Bugs
from strom.raft.sim import DEFAULT_CHAOS_MS, FAULT_KINDS, Result, SimConfig, run, short_trace, shrink

BUGS = {"double-vote": "double_vote", "minority-high-watermark": "minority_high_watermark",
        "skip-truncation": "skip_truncation"}
PROGRESS_EVERY_S = 5.0


def register(subparsers: Any) -> None:
    dev = subparsers.add_parser("dev", help="developer tools (raft simulation)",
                                description="Tools for developing Strom.")
    verbs = dev.add_subparsers(dest="verb", metavar="VERB", required=True)
    p = verbs.add_parser("simulate", help="run the seeded raft simulation over many seeds",
                         description="Run the deterministic raft quorum simulation for each seed and "
                                     "check its invariants; report the first failing seed.")
    p.add_argument("--seeds", type=positive_int, default=1000, metavar="N",
                   help="how many seeds to run (default 1000)")
    p.add_argument("--seed", type=non_negative_int, default=0, metavar="N",
                   help="first seed (default 0); --seed N --seeds 1 reruns one seed")
    p.add_argument("--voters", type=int, choices=(1, 3, 5), default=None,
                   help="voters per run (default: 3 or 5, chosen by the seed)")
    p.add_argument("--observers", type=non_negative_int, default=None, metavar="N",
                   help="observers per run (default: 0 to 2, chosen by the seed)")
    p.add_argument("--chaos-ms", type=positive_int, default=DEFAULT_CHAOS_MS, metavar="MS",
                   help=f"virtual time of the fault phase (default {DEFAULT_CHAOS_MS})")
    p.add_argument("--faults", type=_fault_list, default=frozenset(FAULT_KINDS), metavar="KIND,...",
                   help=f"fault kinds to inject (default all: {','.join(FAULT_KINDS)}; 'none' for none)")
    p.add_argument("--plant-bug", choices=sorted(BUGS), default=None,
                   help="switch on a planted bug to see the simulator catch it")
    p.add_argument("--keep-going", action="store_true", help="run every seed, report all failures")
    p.add_argument("--trace", action="store_true", help="print the whole trace of a failing seed")
    add_format_argument(p)
    p.set_defaults(func=run_simulate)


def _fault_list(text: str) -> frozenset[str]:
    if text.strip() in ("", "none"):
        return frozenset()
    kinds = frozenset(k.strip() for k in text.split(",") if k.strip())
    unknown = sorted(kinds - set(FAULT_KINDS))
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown fault kind(s) {unknown}; choose from {list(FAULT_KINDS)}")
    return kinds


def _config(args: argparse.Namespace) -> SimConfig:
    bugs = Bugs(**{BUGS[args.plant_bug]: True}) if args.plant_bug else Bugs()
    return SimConfig(voters=args.voters, observers=args.observers, chaos_ms=args.chaos_ms,
                     faults=args.faults, bugs=bugs)


def _reproduce(seed: int, config: SimConfig, args: argparse.Namespace) -> str:
    parts = ["strom dev simulate", f"--seed {seed}", "--seeds 1"]
    if args.voters is not None:
        parts.append(f"--voters {args.voters}")
    if args.observers is not None:
        parts.append(f"--observers {args.observers}")
    if args.chaos_ms != DEFAULT_CHAOS_MS:
        parts.append(f"--chaos-ms {args.chaos_ms}")
    if config.faults != frozenset(FAULT_KINDS):
        parts.append("--faults " + (",".join(k for k in FAULT_KINDS if k in config.faults) or "none"))
    if args.plant_bug:
        parts.append(f"--plant-bug {args.plant_bug}")
    return " ".join(parts) + " --trace"


def _report(result: Result, config: SimConfig, args: argparse.Namespace) -> dict[str, Any]:
    """Shrink a failing seed and describe it."""
    seed = result.seed
    small = shrink(seed, config) if config.faults else config
    rerun = run(seed, small, trace=True)
    if rerun.ok:  # cannot happen (shrink keeps failing configs); fall back to the original
        small, rerun = config, run(seed, config, trace=True)
    return {
        "seed": seed,
        "voters": result.voters,
        "observers": result.observers,
        "invariant": rerun.violation.invariant if rerun.violation else None,
        "violation": str(rerun.violation),
        "faults": [k for k in FAULT_KINDS if k in small.faults],
        "reproduce": _reproduce(seed, small, args),
        "trace": rerun.trace if args.trace else short_trace(rerun.trace),
    }


def run_simulate(args: argparse.Namespace) -> int:
    config = _config(args)
    if args.voters == 1 and args.observers is None:
        config = replace(config, observers=0)
    progress = is_terminal(sys.stderr) and args.format == "text"
    started = last = time.monotonic()
    failures: list[dict[str, Any]] = []
    steps = leaders = committed = done = 0
    for seed in range(args.seed, args.seed + args.seeds):
        result = run(seed, config)
        done += 1
        steps += result.steps
        leaders += result.leaders
        committed += result.committed
        if not result.ok:
            failure = _report(result, config, args)
            failures.append(failure)
            if args.format == "text":
                _print_failure(failure)
            if not args.keep_going:
                break
        if progress and time.monotonic() - last >= PROGRESS_EVERY_S:
            last = time.monotonic()
            print(f"{done}/{args.seeds} seeds, {len(failures)} failed", file=sys.stderr)
    elapsed = time.monotonic() - started
    summary = {"seeds": done, "failed": len(failures), "steps": steps, "leaders_elected": leaders,
               "records_committed": committed, "seconds": round(elapsed, 2)}
    if args.format == "json":
        print(json.dumps({**summary, "failures": failures}, indent=2))
    else:
        print(f"{done} seeds, {len(failures)} failed: {steps} steps, {leaders} leaders elected, "
              f"{committed} records committed in {elapsed:.1f} s")
    if failures:
        raise CliError(f"seed {failures[0]['seed']} broke '{failures[0]['invariant']}'",
                       name="SIMULATION_FAILED")
    return 0


def _print_failure(failure: dict[str, Any]) -> None:
    print(f"FAILED seed {failure['seed']} ({failure['voters']} voters, {failure['observers']} observers)")
    print(f"  {failure['violation']}")
    print(f"  fault kinds still needed: {', '.join(failure['faults']) or 'none'}")
    print(f"  reproduce: {failure['reproduce']}")
    print("  trace (step, virtual time, event):")
    for line in failure["trace"]:
        print(f"    {line}")
