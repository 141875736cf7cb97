"""The report's calibration section names the models it has no reliability
curve for, instead of claiming a curve for every model."""
from fairgate.report import html

BINS = [{"lower": 0.0, "upper": 0.5, "examples": 10, "mean_prediction": 0.2,
         "positive_rate": 0.3}]


def _report(calibrations, figure=True):
    return {"models": {label: {"calibration": bins} for label, bins in calibrations.items()},
            "figures": {"calibration": "calibration.png"} if figure else {},
            "calibration_fit": None}


def test_models_without_a_curve_are_named():
    page = html._calibration_html(_report({"candidate": BINS, "unconstrained": [],
                                           "baseline": []}))
    assert "for: candidate:" in page
    assert "No curve for unconstrained, baseline: its evaluation has no calibration bins " \
           "(no CalibrationPlot in its EvalConfig" in page


def test_no_figure_at_all_is_said():
    page = html._calibration_html(_report({"candidate": [], "unconstrained": []},
                                          figure=False))
    assert "No reliability curve was drawn" in page and "candidate, unconstrained" in page
    assert "calibration.png" not in page


def test_every_model_drawn_says_nothing_missing():
    page = html._calibration_html(_report({"candidate": BINS, "unconstrained": BINS}))
    assert "for: candidate, unconstrained:" in page and "calibration-missing" not in page
