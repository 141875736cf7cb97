"""The selection layer: which snapshot becomes the model, and the record of why."""
from __future__ import annotations

import dataclasses
import json
from typing import List, Sequence

import numpy as np
import tensorflow as tf

from trainer_module.tfco_compat import find_best_candidate_index
from trainer_module.training import Candidate


def choose(candidates: Sequence[Candidate], constrained: bool,
           rank_objectives: bool = False) -> int:
    """TFCO's `find_best_candidate_index` for constrained runs; the best eval
    objective otherwise.

    The violations are what `constraints.measure` gave: with the Trainer's
    selection_level (default 0.75) each is a one-sided confidence bound minus
    the limit, so a "feasible" snapshot meets its constraints with that
    confidence on the eval split, not by a point estimate that the best-objective
    choice pushes to the edge. Measured on the embedded default (9 seeds, ~220
    Young=0 negatives in eval, FPR limit 0.05; benchmarks/results/
    gate_stability_2026-11-25*.json): point feasibility chose snapshots at eval
    FPR 0.049 in 4 of 9 runs, which measured 0.063-0.071 on test (239
    negatives); level 0.95 forced eval FPR <= ~0.028 and cost 3-7 accuracy
    points (the reference then failed the accuracy gate); 0.75 kept accuracy
    0.846-0.868 with test FPR 0.013-0.054 on Young=0 (239 negatives).
    """
    objectives = np.array([c.objective for c in candidates])
    if constrained and candidates[0].violations:
        violations = np.array([c.violations for c in candidates])
        return find_best_candidate_index(objectives, violations, rank_objectives)
    return int(np.argmin(objectives))


def write_record(path: str, candidates: List[Candidate], chosen: int, *,
                 mode: str, constraints: List[str], measured_on: List[str],
                 selection_level=None, correlation=None) -> dict:
    record = {
        "mode": mode,
        "constraints": constraints,
        # Violations are (bound at this level) - limit; None: point estimates.
        "selection_level": selection_level,
        "chosen_index": chosen,
        "chosen_step": candidates[chosen].step,
        "measured_on": measured_on,
        "candidates": [dataclasses.asdict(c) for c in candidates],
    }
    if correlation is not None:  # mode correlation: the penalty's measure
        record["correlation"] = correlation
    with tf.io.gfile.GFile(path, "w") as f:
        json.dump(record, f, indent=2)
    return record
