"""Side effects end to end: SideEffectCheck scores the candidate and its reference
on the test split, the report lists what got worse, and under policy `gate` the
blessing GatedPusher reads refuses the model (exit 3, nothing pushed).

One small CSV with a known FPR gap (south's negatives score high). The
group-threshold Trainer, told to hold south's FPR at 0.03, raises south's
threshold: its FPR falls (the intended effect) and its FNR rises far beyond the
margin (a side effect) against the unconstrained model of the same run. (A
retrain with another seed, judged against the model in serving, moves its rates
within noise and lists none: test_fairness_gate.py's reseeded retrain, on the same
CSV, Trainer settings and gates, under policy gate.)
"""
import contextlib
import io
import os

import pytest

from fairgate import cli
from fairgate.release import serving_versions
from fairgate.report import REPORT_JSON
from tests import pipeline_helpers as helpers
from tests import test_fairness_gate as gate_tests
from tests.test_fairness_gate import GROUPS, LENIENT, write_gates


class Workspace(gate_tests.Workspace):
    """The gate tests' CSV and pipeline, with the shipped tabular gates made
    lenient, so that only the side effects can refuse a model."""

    def __init__(self, tmp_path):
        super().__init__(tmp_path)
        self.config.evaluation.eval_config = write_gates(
            tmp_path / "gates.pbtxt", LENIENT, GROUPS)

    def run(self, *, mode, policy, seed=0, baseline=False, serving="serving"):
        self.runs += 1
        config = self.config
        config.trainer.mode, config.trainer.seed = mode, seed
        config.trainer.baseline = baseline
        config.trainer.constraints = {"constraints": [
            {"rate": "false_positive_rate", "group": "south", "upper_bound": 0.03}]}
        config.evaluation.side_effects.policy = policy
        config.push_destination = str(self.tmp_path / serving)
        helpers.run(config, enable_cache=True)
        report = self.kept_report()
        kept = report["kept_at"]
        printed = io.StringIO()
        with contextlib.redirect_stdout(printed):  # the CLI's verdict block
            report["exit_code"] = cli._print_verdict(
                os.path.join(kept, REPORT_JSON), kept)
        report["printed"] = printed.getvalue()
        return report

    def versions(self, serving="serving"):  # pylint: disable=arguments-differ
        return serving_versions.versions(str(self.tmp_path / serving))


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    return Workspace(tmp_path_factory.mktemp("side_effects"))


@pytest.fixture(scope="module")
def constrained(workspace):
    """Group thresholds against the unconstrained model, policy gate, nothing in
    serving (so the Evaluator's own gates, lenient, bless it)."""
    return workspace.run(mode="group_thresholds", policy="gate", baseline=True,
                         serving="serving_thresholds")


def _row(rows, quantity):
    return next(r for r in rows if r["quantity"] == quantity)


def test_a_raised_rate_is_a_side_effect_and_under_gate_nothing_is_pushed(
        workspace, constrained):
    report = constrained
    measurement = report["side_effects_measurement"]
    assert measurement["measured"] and measurement["reference"] == "unconstrained"
    assert measurement["evaluator_blessed"]  # the gates alone would bless it
    fnr = _row(report["side_effects"], "false_negative_rate/region=south")
    assert fnr["reference"] == "unconstrained" and fnr["groups"] == ["south"]
    assert fnr["change"] == pytest.approx(fnr["after"] - fnr["before"])
    assert fnr["change"] > 0.1
    low, high = fnr["interval"]
    assert measurement["margin"] < low < fnr["change"] < high
    # The same decisions TFMA judged: the report's per-group rates at 0.5.
    rates = report["models"]
    assert fnr["after"] == pytest.approx(
        rates["candidate"]["rates"]["region=south"]["0.50"]["false_negative_rate"])
    assert fnr["before"] == pytest.approx(
        rates["unconstrained"]["rates"]["region=south"]["0.50"]["false_negative_rate"])
    positives = rates["candidate"]["rates"]["region=south"]["0.50"]["positives"]
    assert fnr["sample"] == {"positives": {"south": positives}}
    assert f"[positives: region=south {positives}]" in fnr["description"]
    # What the constraint targets is listed apart, not as a side effect.
    intended = _row(measurement["intended"], "false_positive_rate/region=south")
    assert intended["change"] < 0 and not intended["side_effect"]
    assert "false_positive_rate/region=south" not in \
        [r["quantity"] for r in report["side_effects"]]
    assert measurement["comparisons"] == 3 * 2 + 4 - 1
    # Gate: NOT BLESSED, named in the reasons, exit 3, nothing pushed.
    assert not report["verdict"]["blessed"] and not report["verdict"]["pushed"]
    assert any("false negative rate of region=south grew" in r and "Holm" in r
               for r in report["verdict"]["reasons"])
    assert report["exit_code"] == cli.EXIT_NOT_PUSHED
    assert workspace.versions("serving_thresholds") == []
    out = report["printed"]
    assert "VERDICT: NOT BLESSED" in out and "false negative rate of region=south" in out
    page = open(os.path.join(str(workspace.tmp_path), "report_1",
                             "report.html")).read()
    assert "id='side-effects'" in page and "false negative rate of region=south" in page


def test_under_warn_the_same_model_is_pushed_with_its_side_effects_shown(
        workspace, constrained):
    report = workspace.run(mode="group_thresholds", policy="warn", baseline=True,
                           serving="serving_thresholds")
    assert report["verdict"]["blessed"] and report["verdict"]["pushed"]
    assert report["exit_code"] == cli.EXIT_PUSHED
    assert "false_negative_rate/region=south" in \
        [r["quantity"] for r in report["side_effects"]]
    assert len(workspace.versions("serving_thresholds")) == 1
    assert "side effect: false negative rate of region=south grew" in \
        report["printed"]
