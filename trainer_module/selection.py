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

    With rank_objectives=False (fairgate's default) only violations are ranked, so a
    feasible iterate always wins and the objective breaks ties: a release gate
    wants the constraint met. rank_objectives=True is the TFCO tutorial's
    trade-off (max of objective rank and violation rank), which can pick an
    infeasible iterate with a better objective.
    """
    objectives = np.array([c.objective for c in candidates])
    if constrained and candidates[0].violations:
        violations = np.array([c.violations for c in candidates])
        return find_best_candidate_index(objectives, violations, rank_objectives)
    return int(np.argmin(objectives))


def write_record(path: str, candidates: List[Candidate], chosen: int, *,
                 mode: str, constraints: List[str], measured_on: List[str]) -> dict:
    record = {
        "mode": mode,
        "constraints": constraints,
        "chosen_index": chosen,
        "chosen_step": candidates[chosen].step,
        "measured_on": measured_on,
        "candidates": [dataclasses.asdict(c) for c in candidates],
    }
    with tf.io.gfile.GFile(path, "w") as f:
        json.dump(record, f, indent=2)
    return record
