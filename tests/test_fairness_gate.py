"""The blessing, for real: TFMA with fairgate's gate metrics, the Resolver, the
GatedPusher and the report, on one small CSV pipeline run several times.

The candidate is trained without constraints on data with a known FPR gap
(north ~0.02, south ~0.28), so its rates are far from zero; each scenario sets a
gate just past the value the first run measured, and the Evaluator (the only
component that re-runs, with the Trainer cached) must refuse or accept. The gates
are the shipped tabular ones (policy confidence 0.95) with lenient value bounds;
the last scenarios retrain against the blessed model: another seed (noise) is
blessed, a model trained to flag south's negatives more often is not. Side
effects gate the blessing here (policy gate): the first run has nothing to
measure them against, the reseeded retrain moves its rates within noise and lists
none (test_side_effects_pipeline.py judges a model that has some).
"""
import os
import re
import shutil

import numpy as np
import pytest
from PIL import Image
from google.protobuf import text_format

from fairgate.data import preflight
from fairgate.metrics import eval_config
from fairgate.release import publication, serving_versions
from tests import browser, pipeline_helpers as helpers
from tests.tabular import write_biased_csv

GROUPS = ["north", "south"]
ACCURACY = "accuracy/lower95"
ACCURACY_DROP = "accuracy/regression_lower95 (change vs model in serving)"
WORST_FPR = "worst_group_false_positive_rate/upper95"
GAP = "false_positive_rate_gap/upper95"
GAP_GROWTH = "false_positive_rate_gap/regression_lower95 (change vs model in serving)"
MIN_SIZE = "min_group_size"
LENIENT = {"OverallRate": 0.5, "GroupRate": 0.9, "GroupRateGap": 0.9,
           "MinGroupSize": 20}


def write_gates(path, bounds, groups):
    """The tabular EvalConfig with the value bound of each gate metric replaced."""
    rendered = eval_config.render(eval_config.default_path("csv"), label="approved",
                                  group="region", groups=groups)
    for spec in rendered.metrics_specs:
        for metric in spec.metrics:
            for per_slice in metric.per_slice_thresholds:
                value = per_slice.threshold.value_threshold
                if metric.class_name in bounds and \
                        per_slice.threshold.HasField("value_threshold"):
                    bound = value.lower_bound if value.HasField("lower_bound") \
                        else value.upper_bound
                    bound.value = bounds[metric.class_name]
    with open(path, "w") as f:
        f.write(text_format.MessageToString(rendered))
    return str(path)


class Workspace:
    """One pipeline (one metadata store, one serving folder) run many times."""

    def __init__(self, tmp_path):
        self.tmp_path = tmp_path
        write_biased_csv(tmp_path / "csv" / "data.csv", 3000, seed=0)
        self.config = helpers.make_config(
            tmp_path, source="csv", input_base=str(tmp_path / "csv"),
            label="approved", group="region")
        self.config.trainer.mode = "none"  # a model with a real gap to judge
        self.config.trainer.constraints = {"constraints": [  # measured, not enforced
            {"gap": "false_positive_rate", "groups": GROUPS, "max_gap": 0.05}]}
        self.config.trainer.baseline = False
        self.config.trainer.train_steps = 400
        self.config.trainer.snapshot_every = 100
        self.config.evaluation.groups = list(GROUPS)
        self.config.evaluation.side_effects.policy = "gate"
        self.runs = 0

    def run(self, bounds, **evaluation):
        self.runs += 1
        groups = evaluation.get("groups", list(GROUPS))
        self.config.evaluation.eval_config = write_gates(
            self.tmp_path / f"gates_{self.runs}.pbtxt", {**LENIENT, **bounds}, groups)
        self.config.evaluation.groups = groups
        self.config.evaluation.beam_args = evaluation.get("beam_args", [])
        helpers.run(self.config, enable_cache=True)
        return self.kept_report()

    def kept_report(self):
        """The report of the last run, from a copy of its folder (the stable one
        is replaced by the next run); `kept_at` names the copy."""
        kept = self.tmp_path / f"report_{self.runs}"
        shutil.copytree(self.config.resolved_report_dir, kept)
        report = helpers.report(self.config)
        report["kept_at"] = str(kept)
        return report

    def versions(self):
        return serving_versions.versions(self.config.resolved_push_destination)


def _check(report, name):
    return next(c for c in report["checks"] if c["name"] == name)


def _failed(report):
    return sorted(c["name"] for c in report["checks"] if not c["passed"])


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    return Workspace(tmp_path_factory.mktemp("gate"))


@pytest.fixture(scope="module")
def first(workspace):
    """A model every gate accepts: blessed and pushed."""
    return workspace.run({})


def test_fair_enough_model_is_blessed_pushed_once_and_reported(workspace, first):
    verdict = first["verdict"]
    assert verdict["blessed"] and verdict["pushed"] and first["new_push"]
    assert _failed(first) == []
    assert {c["name"] for c in first["checks"]} >= {ACCURACY, WORST_FPR, GAP, MIN_SIZE}
    assert first["baseline_model"] is None  # nothing was blessed before
    versions = workspace.versions()
    assert len(versions) == 1
    pushed = os.path.join(workspace.config.resolved_push_destination, versions[0])
    assert verdict["pushed_model_path"] == pushed
    assert os.path.exists(os.path.join(pushed, "saved_model.pb"))
    assert os.path.exists(os.path.join(pushed, serving_versions.PUSH_RECORD))
    assert not [n for n in os.listdir(workspace.config.resolved_push_destination)
                if n.startswith(publication.INCOMING_PREFIX)]
    # The model has the injected gap; the report's per-group rates show it.
    rates = first["models"]["candidate"]["rates"]
    north = rates["region=north"]["0.50"]["false_positive_rate"]
    south = rates["region=south"]["0.50"]["false_positive_rate"]
    assert south - north == pytest.approx(_check(first, GAP)["point"], abs=1e-9)
    assert _check(first, WORST_FPR)["point"] == pytest.approx(max(north, south))
    # Under the confidence policy the gate compares the upper bound.
    for name in (GAP, WORST_FPR):
        check = _check(first, name)
        assert check["policy"] == "confidence" and check["level"] == 0.95
        low, high = check["interval"]
        assert low < check["point"] < high == check["value"]
    assert first["models"]["candidate"]["rates"]["region=south"]["0.50"][
        "false_positive_rate_interval"][1] > south
    for name in ("report.html", "group_rates.png", "training.png"):
        assert os.path.getsize(os.path.join(workspace.config.resolved_report_dir,
                                            name)) > 1000
    # No unconstrained model and nothing in serving: side effects are not
    # measured, and under policy gate that does not stop the push.
    measurement = first["side_effects_measurement"]
    assert not measurement["measured"] and first["side_effects"] == []
    assert "not measured" in measurement["lines"][0]


def test_a_rerun_does_not_push_the_same_model_again(workspace, first):
    again = workspace.run({"MinGroupSize": 21})  # the Evaluator and Pusher re-run
    assert again["verdict"]["blessed"] and again["verdict"]["pushed"]
    assert not again["new_push"]
    assert again["verdict"]["pushed_model_path"] == first["verdict"]["pushed_model_path"]
    assert again["baseline_model"]  # the first blessing is now the baseline
    for label in ("candidate", "baseline"):  # a reliability curve for each model
        assert sum(b["examples"] for b in again["models"][label]["calibration"]) == \
            again["models"][label]["rates"]["Overall"]["0.50"]["examples"], label
    assert len(workspace.versions()) == 1


@pytest.fixture(scope="module")
def rejected(workspace, first):
    """The same model against a per-group FPR bound just below its worst group's."""
    return workspace.run({"GroupRate": _check(first, WORST_FPR)["value"] - 0.01})


def test_per_group_bound_violation_is_not_blessed(workspace, rejected):
    report = rejected
    assert not report["verdict"]["blessed"] and not report["verdict"]["pushed"]
    assert _failed(report) == [WORST_FPR]
    assert any(reason.startswith("upper 95% bound of worst_group_false_positive_rate "
                                 "is ") and "[negatives: region=north" in reason
               for reason in report["verdict"]["reasons"])
    assert len(workspace.versions()) == 1


def test_gap_bound_violation_is_not_blessed_in_process_and_multiprocess(workspace,
                                                                        first):
    gap = _check(first, GAP)["value"]
    assert gap > 0.1  # the injected bias
    in_process = workspace.run({"GroupRateGap": gap - 0.01})
    workers = workspace.run({"GroupRateGap": gap - 0.01}, beam_args=[
        "--direct_running_mode=multi_processing", "--direct_num_workers=2"])
    for report in (in_process, workers):
        assert not report["verdict"]["blessed"] and not report["verdict"]["pushed"]
        assert _failed(report) == [GAP]
    assert _check(workers, GAP)["value"] == pytest.approx(_check(in_process, GAP)["value"])
    assert len(workspace.versions()) == 1


def test_missing_group_is_refused_and_small_group_is_not_blessed(workspace, first):
    # A group the train split does not hold is refused before anything runs
    # (a misspelling looks the same), naming the key and the values found.
    with pytest.raises(preflight.InputError) as raised:
        workspace.run({}, groups=GROUPS + ["west"])
    assert "'evaluation.groups[2]'" in str(raised.value)
    assert "group value 'west'" in str(raised.value) and "'north' (" in str(raised.value)
    # A group with too few test examples: the MinGroupSize gate blocks the blessing.
    report = workspace.run({"MinGroupSize": 100_000})
    assert not report["verdict"]["blessed"]
    assert MIN_SIZE in _failed(report)
    assert any("region=north has" in r for r in report["verdict"]["reasons"])
    assert len(workspace.versions()) == 1


def test_accuracy_regression_against_last_blessed_is_not_blessed(workspace, first):
    workspace.config.trainer.train_steps = 2  # a new, barely trained model
    try:
        report = workspace.run({"BinaryAccuracy": 0.0, "GroupRate": 1.0,
                                "GroupRateGap": 1.0})
    finally:
        workspace.config.trainer.train_steps = 400
    change = _check(report, ACCURACY_DROP)
    assert not change["passed"]
    assert change["value"] > 0.02  # the lower bound of the paired accuracy drop
    assert not report["verdict"]["blessed"] and not report["verdict"]["pushed"]
    assert len(workspace.versions()) == 1


def _pixels_near(image, rgb, tolerance=12):
    return int((np.abs(image[..., :3].astype(int) - rgb).max(axis=-1) <= tolerance).sum())


@pytest.mark.parametrize("which", ["first", "rejected"])
def test_report_renders_its_verdict_in_a_real_browser(which, request, tmp_path):
    report = request.getfixturevalue(which)
    shot = tmp_path / f"report_{which}.png"
    dom = browser.render(os.path.join(report["kept_at"], "report.html"), str(shot),
                         str(tmp_path / "profile"))
    print("screenshot:", shot)
    verdict = re.search(r"<div id=\"verdict\"[^>]*>(.*?)</div>", dom).group(1)
    image = np.asarray(Image.open(shot))
    banner_green, banner_red = (217, 240, 211), (253, 219, 199)
    if which == "first":
        assert verdict == "BLESSED and PUSHED"
        assert _pixels_near(image, banner_green) > 20_000
    else:
        assert verdict == "NOT BLESSED: not pushed"
        assert _pixels_near(image, banner_red) > 20_000
        reasons = dom.split('id="reasons"')[1].split("</ul>")[0]
        assert "upper 95% bound of worst_group_false_positive_rate is" in reasons
    # The figures were loaded and drawn: the candidate's bars are on the page.
    assert _pixels_near(image, (27, 120, 55), tolerance=6) > 2_000


# Retrains judged against the blessed model (run after the scenarios above, which
# count pushed versions).

def test_a_retrain_with_another_seed_is_blessed(workspace, first):
    """Noise: the same recipe with another seed. The change gates compare it with
    the blessed model on the same test examples and see no real regression."""
    workspace.config.trainer.seed = 1
    try:
        report = workspace.run({})
    finally:
        workspace.config.trainer.seed = 0
    assert report["baseline_model"]
    growth = _check(report, GAP_GROWTH)
    assert growth["passed"] and growth["policy"] == "confidence"
    low, high = growth["interval"]
    assert low == growth["value"] <= 0.02 and low < growth["point"] < high
    assert growth["point"] != 0.0  # a different model, judged on its own decisions
    assert _check(report, ACCURACY_DROP)["passed"]
    assert report["verdict"]["blessed"] and _failed(report) == []
    # Nor do the side effects, measured against the model in serving (the first
    # run's: the barely trained one was not pushed): it moved, within noise.
    measurement = report["side_effects_measurement"]
    assert measurement["measured"] and measurement["reference"] == "serving"
    assert report["side_effects"] == []
    assert any(r["change"] != 0 for r in measurement["changes"])  # it did move
    assert measurement["lines"][0].startswith(
        "no side effects found against the model in serving (version")
    assert "margin 0.02" in measurement["lines"][0]
    assert report["verdict"]["pushed"] and len(workspace.versions()) == 2


def test_a_real_fpr_regression_is_not_blessed(workspace, first):
    """A model trained to flag south's negatives (FPR >= 0.5): its FPR gap grows by
    far more than noise, and the paired change gate refuses it."""
    workspace.config.trainer.mode = "tfco"
    workspace.config.trainer.constraints = {"constraints": [
        {"rate": "false_positive_rate", "group": "south", "lower_bound": 0.5}]}
    try:
        report = workspace.run({"OverallRate": 0.0})
    finally:
        workspace.config.trainer.mode = "none"
        workspace.config.trainer.constraints = {"constraints": [
            {"gap": "false_positive_rate", "groups": GROUPS, "max_gap": 0.05}]}
    growth = _check(report, GAP_GROWTH)
    assert not growth["passed"]
    assert growth["point"] > 0.1 and growth["value"] > 0.02
    assert not report["verdict"]["blessed"] and not report["verdict"]["pushed"]
    assert any(reason.startswith("false_positive_rate_gap regressed against the "
                                 "baseline model: the lower 95% bound")
               for reason in report["verdict"]["reasons"])
