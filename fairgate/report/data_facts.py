"""The report's account of the data: the features the model used, the leakage
guard's findings and the groups too small to judge, from the data gate's
data_record.json (components/data_gate/train_facts.py) and the Evaluator's
group slices."""
from __future__ import annotations

import json
import os
from typing import Any, Dict, List, Optional

import tensorflow as tf

DATA_RECORD = "data_record.json"
# Without a MinGroupSize gate, a group with fewer test examples than this is small.
DEFAULT_SMALL_GROUP = 50


def read(facts_uri: str) -> Optional[Dict[str, Any]]:
    path = os.path.join(facts_uri, DATA_RECORD)
    if not facts_uri or not tf.io.gfile.exists(path):
        return None
    with tf.io.gfile.GFile(path) as f:
        return json.load(f)


def small_group_size(check_list: List[Dict[str, Any]]) -> float:
    bounds = [c["bound"]["lower"] for c in check_list
              if c["name"].startswith("min_group_size") and "lower" in c["bound"]]
    return max(bounds) if bounds else DEFAULT_SMALL_GROUP


def small_groups(test_sizes: Dict[str, int], train_sizes: Dict[str, int],
                 minimum: float) -> List[Dict[str, Any]]:
    """Groups with fewer than `minimum` test examples, with both counts."""
    names = sorted(set(test_sizes) | set(train_sizes))
    return [{"group": name, "test_examples": test_sizes.get(name, 0),
             "train_examples": train_sizes.get(name), "minimum": minimum}
            for name in names if test_sizes.get(name, 0) < minimum]


def section(facts_uri: str, test_sizes: Dict[str, int],
            check_list: List[Dict[str, Any]]) -> Dict[str, Any]:
    """{features_used, leakage, small_groups} for report.json."""
    record = read(facts_uri) or {}
    return {
        "features_used": record.get("features"),
        "leakage": record.get("leakage"),
        "small_groups": small_groups(test_sizes, record.get("train_group_counts") or {},
                                     small_group_size(check_list)),
    }


def render_html(report: Dict[str, Any]) -> str:
    """The data section of report.html (empty when the report has none)."""
    import html
    parts = []
    features = report.get("features_used")
    if features:
        parts.append("<h2>Data</h2><p id='features'>The model's features: " + ", ".join(
            f"<b>{html.escape(n)}</b> ({html.escape(k)})" for n, k in features.items())
            + ".</p>")
    flagged = (report.get("leakage") or {}).get("flagged") or []
    if flagged:
        parts.append("<p id='leakage' class='fail'>Possible label leakage: " + "; ".join(
            f"{html.escape(f['feature'])}: {html.escape(f['statistic'])} "
            f"{f['value']:.4f} (&ge; {f['threshold']:g})" for f in flagged) + "</p>")
    small = report.get("small_groups") or []
    if small:
        parts.append("<p id='small-groups'>Groups too small to judge (fewer than "
                     f"{small[0]['minimum']:g} test examples): " + "; ".join(
                         f"{html.escape(g['group'])}: {g['test_examples']} test, "
                         f"{g['train_examples'] if g['train_examples'] is not None else '?'}"
                         " train" for g in small) + "</p>")
    return "\n".join(parts)
