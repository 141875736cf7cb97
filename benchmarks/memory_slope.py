"""Peak memory against dataset size, from pipeline_e2e JSONs: slope and projection.

Fits peak RSS = intercept + slope * faces (least squares) over the given
benchmarks/pipeline_e2e.py results and projects it to a size (default:
2,000,000 faces, ten times CelebA) against a memory budget (default: 24 GB).

  .venv/bin/python benchmarks/memory_slope.py benchmarks/results/pipeline_e2e_*.json
"""
from __future__ import annotations

import argparse
import json
import sys


def fit(points):
    """(intercept, slope) of the least-squares line through (x, y) points."""
    n = len(points)
    mean_x = sum(x for x, _ in points) / n
    mean_y = sum(y for _, y in points) / n
    spread = sum((x - mean_x) ** 2 for x, _ in points)
    slope = sum((x - mean_x) * (y - mean_y) for x, y in points) / spread if spread else 0.0
    return mean_y - slope * mean_x, slope


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("results", nargs="+", help="pipeline_e2e JSON files")
    parser.add_argument("--project-to", type=int, default=2_000_000)
    parser.add_argument("--budget-gb", type=float, default=24.0)
    args = parser.parse_args(argv)
    points = []
    for path in args.results:
        with open(path) as f:
            result = json.load(f)
        points.append((result["num_examples"], result["peak_rss_gb"]))
    if len({x for x, _ in points}) < 2:
        print("memory_slope: need results at two or more sizes", file=sys.stderr)
        return 2
    intercept, slope = fit(points)
    projected = intercept + slope * args.project_to
    print(json.dumps({
        "benchmark": "memory_slope",
        "points": [{"num_examples": x, "peak_rss_gb": y} for x, y in sorted(points)],
        "intercept_gb": round(intercept, 3),
        "slope_gb_per_million_faces": round(slope * 1e6, 3),
        "project_to": args.project_to,
        "projected_peak_rss_gb": round(projected, 2),
        "budget_gb": args.budget_gb,
        "within_budget": projected <= args.budget_gb,
    }, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
