"""The gate's checks on statistics built by TFDV from small frames."""
import numpy as np
import pandas as pd
import tensorflow_data_validation as tfdv

from components.data_gate import checks


def _stats(frame):
    return tfdv.generate_statistics_from_dataframe(frame).datasets[0]


def _good(n=40):
    return pd.DataFrame({"label": np.arange(n) % 2, "group": ["a", "b"] * (n // 2),
                         "x": np.linspace(0, 1, n)})


def test_good_data_has_no_problems():
    stats = {"train": _stats(_good()), "eval": _stats(_good(10))}
    assert checks.find_problems(stats, {}, "label", "group", {"x": (0, 1)}) == []


def test_missing_label_and_group_are_named_per_split():
    frame = _good().drop(columns=["label"])
    problems = checks.find_problems({"eval": _stats(frame)}, {}, "label", "group")
    assert problems == [
        "split 'eval': label feature 'label' is missing (features present: group, x)"]


def test_float_label_single_valued_label_and_single_group():
    frame = _good()
    frame["label"] = frame["label"] * 0.5
    assert "must be integer 0/1" in checks.find_problems(
        {"train": _stats(frame)}, {}, "label", "group")[0]
    frame = _good()
    frame["label"] = 1
    frame["group"] = "a"
    problems = checks.find_problems({"train": _stats(frame)}, {}, "label", "group")
    assert any("single value (1): nothing to learn" in p for p in problems)
    assert any("group feature 'group' has a single value" in p for p in problems)


def test_bounds_report_out_of_range_values():
    frame = _good()
    frame.loc[3, "x"] = -2.0
    problems = checks.find_problems({"test": _stats(frame)}, {}, "label", "group",
                                    {"x": (0.0, 1.0)})
    assert problems == ["split 'test': feature 'x': values outside [0, 1] (min -2, max 1)"]
