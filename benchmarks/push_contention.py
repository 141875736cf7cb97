"""Pushes that collide: three processes push to one destination at the same
moment (two different models, one of them twice) with GatedPusher's release code,
for a number of rounds, each round to a fresh destination. Prints JSON: pushes,
failed (with the errors by kind), duplicates, versions that are not usable,
leftovers.

  PYTHONPATH=. .venv/bin/python benchmarks/push_contention.py --rounds 10 [--object-storage]

--object-storage runs the object-storage code (no rename, gfile, liveness by the
storage's timestamps) on a local folder. Measured before issue 19 (main at
9e5b075, find_push then push): 16 of 30 pushes failed (13 NotFoundError, 3
AlreadyExistsError); results/push_contention_2026-12-01.json.
"""
from __future__ import annotations

import argparse
import collections
import json
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tests import push_workers  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--object-storage", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        a, b = push_workers.make_models(os.path.join(work, "models"), 2, size=200_000)
        pushers = [a, b, a]
        rounds = [os.path.join(work, f"round{r}") for r in range(args.rounds)]
        start = time.time()
        outcomes = push_workers.contend(pushers, rounds, args.object_storage)
        seconds = time.time() - start
        problems = collections.defaultdict(list)
        for destination in rounds:
            for kind, found in push_workers.inspect(destination, pushers,
                                                    args.object_storage).items():
                problems[kind] += found
    failed = [o for o in outcomes if not o["ok"]]
    print(json.dumps({
        "code": "object storage (no rename)" if args.object_storage else "local",
        "processes": len(pushers), "rounds": args.rounds, "pushes": len(outcomes),
        "failed": len(failed),
        "errors": dict(collections.Counter(o["error"].split(":")[0] for o in failed)),
        "new_versions": sum(o["new"] for o in outcomes),
        "duplicates": len(problems["duplicates"]),
        "unusable_versions": len(problems["unusable"]),
        "models_missing": len(problems["missing"]),
        "leftovers": len(problems["leftovers"]),
        "seconds": round(seconds, 1)}, indent=2))


if __name__ == "__main__":
    main()
