"""The fairness report: report.json (the verdict and every number behind it),
report.html and its PNG figures. Built from the Evaluators' TFMA outputs, the
blessing, the Pusher's output and the Trainer's record of its snapshots."""
from __future__ import annotations

import json
import math
import os
import time
from typing import Any, Dict, List, Optional

from fairgate import model_module
from fairgate.config import is_uri
from fairgate.report import collect, data_facts, html, plots

REPORT_JSON = "report.json"
REPORT_HTML = "report.html"


def build(*, pipeline: str, evaluation_uri: str, blessed: bool, pushed: bool,
          pushed_model_path: str, label: str, group: str, groups: List[Any],
          split: str, model_uri: str = "",
          unconstrained_evaluation_uri: str = "",
          serving: Optional[Dict[str, Any]] = None,
          side_effects: Optional[Dict[str, Any]] = None,
          candidate: Optional[Dict[str, Any]] = None,
          comparison: Optional[Dict[str, Any]] = None,
          data_facts_uri: str = "") -> Dict[str, Any]:
    """`serving`: ServingModel's record of the model in serving that the
    candidate was compared with ({"in_serving": false} before the first push).
    `side_effects`: SideEffectCheck's record (None: the blessing came from the
    Evaluator alone, and side effects were not measured). `candidate`:
    CandidateModel's record of a candidate trained elsewhere (None: trained by
    this run). `comparison`: the Evaluator's record of what the change gates
    compared with (None: not recorded). `data_facts_uri`: the data gate's
    train split facts (features, leakage guard, train groups; "": none)."""
    evaluation = collect.Evaluation(evaluation_uri)
    sizes = collect.group_sizes(evaluation, group, groups,
                                evaluation.candidate_name)
    against = (comparison or {}).get("against") or collect.CHANGE_AGAINST
    check_list = collect.checks(evaluation, against)
    training = collect.training_history(model_uri) if model_uri else None
    mode = (training or {}).get("mode", "unknown")
    description = (f"the model the Evaluator judged (trainer mode: {mode})"
                   if not candidate else candidate_description(candidate))
    models = {"candidate": {
        "description": description,
        "rates": collect.group_rates(evaluation, group, evaluation.candidate_name),
        "calibration": collect.calibration_bins(evaluation, evaluation.candidate_name)}}
    if unconstrained_evaluation_uri:
        unconstrained = collect.Evaluation(unconstrained_evaluation_uri)
        models["unconstrained"] = {
            "description": "the same model trained without fairness constraints",
            "rates": collect.group_rates(unconstrained, group,
                                         unconstrained.candidate_name),
            "calibration": collect.calibration_bins(unconstrained,
                                                    unconstrained.candidate_name)}
    if evaluation.baseline_name is not None:
        models["baseline"] = {
            "description": f"the {against}" if against == collect.CHANGE_AGAINST
            else against,
            "rates": collect.group_rates(evaluation, group, evaluation.baseline_name),
            "calibration": collect.calibration_bins(evaluation,
                                                    evaluation.baseline_name)}
    reasons = collect.reasons(check_list, sizes, group,
                              models["candidate"]["rates"])
    if side_effects is None:
        side_effects = {"measured": False, "lines": [
            "side effects were not measured: the blessing did not come from "
            "SideEffectCheck"], "side_effects": [], "reasons": []}
    reasons += side_effects.get("reasons") or []
    if not blessed and not reasons:
        reasons = ["the Evaluator did not bless the model (see validations in "
                   f"{evaluation_uri})"]
    return {
        "pipeline": pipeline,
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "verdict": {"blessed": blessed, "pushed": pushed,
                    "pushed_model_path": pushed_model_path or None,
                    "reasons": reasons},
        "label": label, "group": group, "split": split,
        "group_sizes": sizes,
        # None: nothing in serving yet, so the change gates (vs the model in
        # serving) were not applied.
        "baseline_model": evaluation.model_locations.get(evaluation.baseline_name)
        if evaluation.baseline_name is not None else None,
        "serving_baseline": serving or {"in_serving": False},
        "checks": check_list,
        # What the candidate made worse than a reference on the same test
        # examples (rate, groups, reference, before, after, change, interval, ...);
        # how it was measured, the intended effects and every comparison are in
        # side_effects_measurement.
        "side_effects": side_effects["side_effects"],
        "side_effects_measurement": {k: v for k, v in side_effects.items()
                                     if k != "side_effects"},
        "models": models,
        # A candidate trained elsewhere: mode, source, fingerprint, score key or
        # column, trained_here false; None when this run trained it.
        "candidate": candidate or None,
        # What the change gates compared with: {compared, why} (why: the reason
        # they were skipped).
        "change_gates": comparison,
        # Parts of a run that need a Trainer, left out for a candidate trained
        # elsewhere.
        "left_out": LEFT_OUT if candidate else [],
        "training": training,
        # The candidate's model: built-in name, or module file, fingerprint,
        # function and hparams; its parameter count (model.json).
        "model": model_module.read_record(model_uri) if model_uri else None,
        # mode group_thresholds: the per-group thresholds (logit space) chosen on
        # eval; None in the other modes.
        "group_thresholds": collect.group_thresholds(model_uri) if model_uri else None,
        # The candidate's calibration (scale fitted on eval, log-loss and ECE
        # before / after); each model's reliability curve on the evaluated split is
        # models.<label>.calibration.
        "calibration_fit": collect.calibration_fit(model_uri) if model_uri else None,
        # Features used, leakage guard, small groups (test counts of every value
        # of the group column).
        **data_facts.section(data_facts_uri, collect.group_sizes(
            evaluation, group, [s.split("=", 1)[1] for s in evaluation.group_slices(group)],
            evaluation.candidate_name), check_list),
        "evaluation_uri": evaluation_uri,
        "figures": {},
    }


LEFT_OUT = ["training (the candidate was not trained here)",
            "leakage guard (it scores the features of a model trained here)",
            "unconstrained comparison (there is no unconstrained twin to train)"]


def candidate_description(candidate: Dict[str, Any]) -> str:
    if candidate.get("mode") == "saved_model":
        return (f"the SavedModel at {candidate.get('source')} (score output "
                f"'{candidate.get('score')}', content fingerprint "
                f"{candidate.get('fingerprint', '')[:12]}), not trained here")
    pushed = (f"; artifact {candidate.get('source')} (content fingerprint "
              f"{candidate.get('fingerprint', '')[:12]})" if candidate.get("files")
              else "; no artifact to push")
    return (f"the scores in column '{candidate.get('score')}' of the examples, not "
            f"a model trained here{pushed}")


def write(report: Dict[str, Any], out_dir: str) -> Dict[str, Any]:
    """Writes report.json, report.html and the PNGs into out_dir."""
    os.makedirs(out_dir, exist_ok=True)
    thresholds = [f"{t:.2f}" for t in collect.REPORT_THRESHOLDS]
    group_only = {label: {s: r for s, r in model["rates"].items()
                          if s != collect.OVERALL}
                  for label, model in report["models"].items()}
    figures = {}
    bars = plots.group_rate_bars(group_only, thresholds,
                                 os.path.join(out_dir, "group_rates.png"))
    if bars:
        figures["group_rates"] = bars
    reliability = plots.reliability_curves(
        {label: model.get("calibration") or [] for label, model in
         report["models"].items()}, os.path.join(out_dir, "calibration.png"))
    if reliability:
        figures["calibration"] = reliability
    if report.get("training"):
        curve = plots.training_violation(report["training"],
                                         os.path.join(out_dir, "training.png"))
        if curve:
            figures["training"] = curve
    report["figures"] = figures
    with open(os.path.join(out_dir, REPORT_JSON), "w") as f:
        json.dump(without_nan(report), f, indent=2, allow_nan=False)
    with open(os.path.join(out_dir, REPORT_HTML), "w") as f:
        f.write(html.render(report))
    return report


def without_nan(value):
    """NaN (an undefined rate, a diverged loss) becomes null: report.json stays
    strict JSON and the report is still written."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: without_nan(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [without_nan(v) for v in value]
    return value


def publish(report_dir: str, stable_dir: str) -> str:
    """Copies the report to stable_dir, replacing the previous one: a reader, and
    a concurrent run publishing its own, sees one whole report, never a mix
    (publication.replace_folder; on object storage report.json is written last,
    under the folder's lock)."""
    from fairgate.release.destination_lock import lock_for
    from fairgate.release.publication import replace_folder, storage_for
    storage = storage_for(stable_dir)
    return replace_folder(report_dir, stable_dir, storage, completion=REPORT_JSON,
                          lock_factory=lambda target: lock_for(target, storage))
