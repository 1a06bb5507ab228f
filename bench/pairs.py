"""The hub and the Node-RED peer draining the same backlog in alternating pairs, summed up.

    cd /work/main && .venv/bin/python -m bench.pairs --pairs 7 [--drain 200000]

On the shared 2-core machines the benchmarks run on, the same code's CPU a message moves by a third
within minutes (docs/benchmark.md, "Fifth round"), so a figure taken an hour apart from another is no
comparison. This runs `bench.ingest --drain N` and `bench.peer --drain N` in turn, N pairs, the order
swapped every other pair (hub, peer, peer, hub, …) so a drift in the machine's speed falls on both
alike. Each run's JSON line is printed as it comes; the last line sums them up: per contestant the
range and median of drain rate, process CPU a message, PostgreSQL's CPU a message and peak RSS; the
hub / peer rate of each pair and their median; how many hub drains met the issue's targets
(`--target-rate`, `--target-us`) in one run; and the host's processor, since hosts of one machine kind
differ by more than twice in speed. A run that fails is reported on stderr and its pair left
out.
"""

import argparse
import json
import statistics
import subprocess
import sys
from collections.abc import Sequence
from typing import Any

from bench import procstat
from bench.ingest import log

CONTESTANTS = {
    "hub": ("bench.ingest", "hub_cpu_us_per_msg", "hub_rss_mb"),
    "peer": ("bench.peer", "peer_cpu_us_per_msg", "peer_rss_mb"),
}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.pairs", description=__doc__.split("\n", 1)[0])
    p.add_argument("--pairs", type=int, default=5, help="alternating pairs to run (default 5)")
    p.add_argument("--drain", type=int, default=200_000, metavar="N", help="messages queued (default 200000)")
    p.add_argument("--target-rate", type=float, default=29_000.0, help="issue 19's drain rate, msg/s")
    p.add_argument("--target-us", type=float, default=30.0, help="issue 19's hub CPU a message, µs")
    args = p.parse_args(argv)
    if args.pairs <= 0 or args.drain <= 0:
        p.error("--pairs and --drain must be positive")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    pairs: list[tuple[dict[str, Any], dict[str, Any]]] = []
    for i in range(args.pairs):
        order = ("hub", "peer") if i % 2 == 0 else ("peer", "hub")
        runs: dict[str, dict[str, Any]] = {}
        for who in order:
            log(f"pair {i + 1} of {args.pairs}: {who}")
            report = _drain(who, args.drain)
            if report is None:
                break
            print(json.dumps({"contestant": who, **report}), flush=True)
            runs[who] = report
        if len(runs) == 2:
            pairs.append((runs["hub"], runs["peer"]))
    if not pairs:
        log("no pair completed")
        return 1
    summary = summarize(pairs, args.target_rate, args.target_us)
    print(json.dumps({**summary, "host": procstat.host()}), flush=True)
    return 0


def _drain(who: str, n: int) -> dict[str, Any] | None:
    module = CONTESTANTS[who][0]
    done = subprocess.run(  # noqa: S603 - our own argv
        [sys.executable, "-m", module, "--drain", str(n)], stdout=subprocess.PIPE, text=True, check=False
    )
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        log(f"{module} failed (exit {done.returncode}); its pair is left out")
        return None
    report: dict[str, Any] = json.loads(lines[-1])
    return report


def summarize(
    pairs: Sequence[tuple[dict[str, Any], dict[str, Any]]], target_rate: float, target_us: float
) -> dict[str, Any]:
    """Ranges and medians per contestant, the pairs' hub / peer rates, and the hub drains that met
    both targets in one run."""
    out: dict[str, Any] = {"pairs": len(pairs)}
    for index, who in enumerate(CONTESTANTS):
        _, cpu, rss = CONTESTANTS[who]
        runs = [pair[index] for pair in pairs]
        out[who] = {
            "drain_msgs_per_s": _spread([r["drain_msgs_per_s"] for r in runs]),
            "cpu_us_per_msg": _spread([r[cpu] for r in runs]),
            "db_cpu_us_per_msg": _spread([r["db_cpu_us_per_msg"] for r in runs]),
            "rss_mb": _spread([r[rss] for r in runs]),
            "lost": sum(r["lost"] for r in runs),
            "duplicated": sum(r["duplicated"] for r in runs),
        }
    ratios = [round(hub["drain_msgs_per_s"] / peer["drain_msgs_per_s"], 3) for hub, peer in pairs]
    out["hub_over_peer_rate"] = {"each": ratios, "median": round(statistics.median(ratios), 3)}
    out["hub_drains_meeting_targets"] = sum(
        1
        for hub, _ in pairs
        if hub["drain_msgs_per_s"] >= target_rate and hub["hub_cpu_us_per_msg"] <= target_us
    )
    return out


def _spread(values: list[float]) -> dict[str, float]:
    return {"min": min(values), "median": round(statistics.median(values), 1), "max": max(values)}


if __name__ == "__main__":
    sys.exit(main())
