"""report.html: the verdict, the checks, per-group rates and the figures, readable
in a browser with nothing else than the PNGs beside it."""
from __future__ import annotations

import html
from typing import Any, Dict, List

STYLE = """
body { font-family: sans-serif; margin: 2em; max-width: 70em; color: #222; }
.verdict { padding: 0.8em 1.2em; border-radius: 6px; font-size: 1.4em; }
.blessed { background: #d9f0d3; border: 2px solid #1b7837; }
.rejected { background: #fddbc7; border: 2px solid #b2182b; }
table { border-collapse: collapse; margin: 0.8em 0; }
td, th { border: 1px solid #bbb; padding: 0.25em 0.6em; text-align: right; }
th { background: #eee; } td.name { text-align: left; }
.fail { color: #b2182b; font-weight: bold; } .pass { color: #1b7837; }
"""


def _fmt(value: Any) -> str:
    if value is None:
        return "&ndash;"
    if isinstance(value, float):
        return f"{value:.0f}" if value.is_integer() and abs(value) >= 1 else \
            f"{value:.4f}"
    return html.escape(str(value))


def _interval(interval) -> str:
    if not interval:
        return "&ndash;"
    return f"[{interval[0]:.4f}, {interval[1]:.4f}]"


def _bound(bound: Dict[str, float]) -> str:
    return " and ".join(("&ge; " if side == "lower" else "&le; ") + f"{limit:g}"
                        for side, limit in bound.items())


def _side_effects(report: Dict[str, Any]) -> List[str]:
    """The side effects in plain words, on the first screen, then the intended
    effects (what the Trainer's constraints target)."""
    measurement = report.get("side_effects_measurement") or {}
    lines = measurement.get("lines") or []
    if not lines:
        return []
    parts = ["<h2>Side effects</h2><ul id='side-effects'>" + "".join(
        f"<li>{html.escape(line)}</li>" for line in lines) + "</ul>"]
    if measurement.get("measured"):
        policy = measurement.get("policy")
        parts.append(
            f"<p>Policy <i>{html.escape(str(policy))}</i>: "
            + ("a side effect blocks the blessing (Holm-corrected over the "
               "comparisons)" if policy == "gate" else
               "listed, not gated (evaluation.side_effects.policy: gate blocks)")
            + f"; {html.escape(str(measurement.get('method', '')))}, threshold "
            f"{measurement.get('threshold', 0.5):g}.</p>")
    intended = measurement.get("intended") or []
    if intended:
        parts.append("<p>Intended (what the Trainer's constraints target):</p>"
                     "<ul id='intended-effects'>" + "".join(
                         f"<li>{html.escape(row['description'])}</li>"
                         for row in intended) + "</ul>")
    return parts


def render(report: Dict[str, Any]) -> str:
    verdict = report["verdict"]
    if verdict["blessed"] and verdict["pushed"]:
        headline, css = "BLESSED and PUSHED", "blessed"
    elif verdict["blessed"]:
        headline, css = "BLESSED, not pushed", "blessed"
    else:
        headline, css = "NOT BLESSED: not pushed", "rejected"
    parts = [f"<!DOCTYPE html><html><head><meta charset='utf-8'>"
             f"<title>fairgate report: {html.escape(report['pipeline'])}</title>"
             f"<style>{STYLE}</style></head><body>",
             f"<h1>Fairness report: {html.escape(report['pipeline'])}</h1>",
             f"<div id='verdict' class='verdict {css}'>{headline}</div>"]
    if verdict.get("pushed_model_path"):
        parts.append(f"<p>Pushed model: <code>{html.escape(verdict['pushed_model_path'])}"
                     "</code></p>")
    if verdict["reasons"]:
        parts.append("<h2>Why not</h2><ul id='reasons'>" + "".join(
            f"<li>{html.escape(r)}</li>" for r in verdict["reasons"]) + "</ul>")
    parts.extend(_side_effects(report))
    parts.append(f"<p>Measured on the <b>{html.escape(report['split'])}</b> split "
                 f"(the Trainer chose its iterate on another split). Group feature "
                 f"<b>{html.escape(report['group'])}</b>, label "
                 f"<b>{html.escape(report['label'])}</b>.</p>")
    if report.get("candidate"):
        parts.append("<p id='candidate'>Candidate: "
                     f"{html.escape(report['models']['candidate']['description'])}. "
                     "Left out, as they need a Trainer: "
                     f"{html.escape('; '.join(report.get('left_out') or []))}.</p>")
    change_gates = report.get("change_gates") or {}
    serving = report.get("serving_baseline") or {}
    if change_gates.get("why") and report.get("candidate"):
        parts.append(f"<p id='baseline'>Change gates: {html.escape(change_gates['why'])}."
                     "</p>")
    elif change_gates.get("against"):
        parts.append("<p id='baseline'>Change gates compare with the "
                     f"{html.escape(change_gates['against'])}.</p>")
    elif report.get("baseline_model"):
        where = serving.get("path") or report["baseline_model"]
        version = serving.get("version")
        parts.append("<p id='baseline'>Compared with the model in serving"
                     + (f", version <b>{html.escape(str(version))}</b>" if version else "")
                     + f": <code>{html.escape(where)}</code>.</p>")
    elif serving.get("unusable"):
        parts.append("<p id='baseline'>No usable model was in serving: the gates "
                     "against the model in serving (no accuracy drop, no larger gap) "
                     "were not applied.</p>")
    else:
        parts.append("<p id='baseline'>No model was in serving before this one: the "
                     "gates against the model in serving (no accuracy drop, no larger "
                     "gap) were not applied.</p>")
    for skipped in serving.get("unusable") or []:
        parts.append("<p class='unusable'>Version "
                     f"<b>{html.escape(str(skipped['version']))}</b> in serving is "
                     f"unusable and was not compared with: "
                     f"{html.escape(skipped['reason'])}.</p>")
    parts.append("<h2>Gates</h2><p>Policy <i>confidence</i>: the gate compares a "
                 "one-sided bound (e.g. the upper 95% bound of an FPR) with its limit; "
                 "a change gate fails only when the paired regression against the "
                 "model in serving exceeds its margin at that confidence. Policy "
                 "<i>point</i>: the point value is compared. Intervals are "
                 "[lower, upper] one-sided bounds at the gate's level.</p>"
                 "<table id='checks'><tr><th>check</th><th>slice</th><th>policy</th>"
                 "<th>point value</th><th>interval</th><th>compared</th>"
                 "<th>value compared</th><th>bound</th><th>result</th><th>note</th>"
                 "</tr>")
    for check in report["checks"]:
        result = ("<span class='pass'>pass</span>" if check["passed"]
                  else "<span class='fail'>FAIL</span>")
        policy = check.get("policy", "point")
        if check.get("level"):
            policy += f" {check['level']:g}"
        interval = check.get("interval")
        parts.append(f"<tr><td class='name'>{html.escape(check['name'])}</td>"
                     f"<td class='name'>{html.escape(check['slice'])}</td>"
                     f"<td class='name'>{html.escape(policy)}</td>"
                     f"<td>{_fmt(check.get('point'))}</td>"
                     f"<td>{_interval(interval)}</td>"
                     f"<td class='name'>{html.escape(check.get('compared', ''))}</td>"
                     f"<td>{_fmt(check['value'])}</td><td>{_bound(check['bound'])}</td>"
                     f"<td>{result}</td>"
                     f"<td class='name'>{html.escape(check.get('note', ''))}</td></tr>")
    parts.append("</table>")
    for figure in report["figures"].values():
        parts.append(f"<p><img src='{html.escape(figure)}' alt='{html.escape(figure)}'"
                     " style='max-width:100%'></p>")
    parts.append("<h2>Per-group rates</h2>")
    for label, model in report["models"].items():
        parts.append(f"<h3>{html.escape(label)}</h3>")
        if model.get("description"):
            parts.append(f"<p>{html.escape(model['description'])}</p>")
        parts.append("<table><tr><th>slice</th><th>threshold</th><th>examples</th>"
                     "<th>accuracy</th><th>negatives</th><th>FPR</th>"
                     "<th>FPR 95% bounds</th><th>positives</th><th>FNR</th>"
                     "<th>FNR 95% bounds</th></tr>")
        for slice_, per_threshold in model["rates"].items():
            for threshold, rates in per_threshold.items():
                parts.append(
                    f"<tr><td class='name'>{html.escape(slice_)}</td><td>{threshold}</td>"
                    f"<td>{_fmt(rates['examples'])}</td><td>{_fmt(rates['accuracy'])}</td>"
                    f"<td>{_fmt(rates.get('negatives'))}</td>"
                    f"<td>{_fmt(rates['false_positive_rate'])}</td>"
                    f"<td>{_interval(rates.get('false_positive_rate_interval'))}</td>"
                    f"<td>{_fmt(rates.get('positives'))}</td>"
                    f"<td>{_fmt(rates['false_negative_rate'])}</td>"
                    f"<td>{_interval(rates.get('false_negative_rate_interval'))}</td>"
                    "</tr>")
        parts.append("</table>")
    parts.append(_calibration_html(report))
    parts.append(_group_thresholds_html(report))
    training = report.get("training")
    if report.get("model"):
        from fairgate.model_module import summary
        parts.append(f"<p id='model'>Model: {html.escape(summary(report['model']))}.</p>")
    if training:
        parts.append(f"<h2>Training</h2><p>Constraints: "
                     f"{html.escape('; '.join(training.get('constraints', [])) or 'none')}."
                     f" Chosen snapshot: step {training.get('chosen_step')} of "
                     f"{len(training.get('candidates', []))} candidates.</p>")
        if training.get("mode") == "group_thresholds":
            parts.append("<p>Mode group_thresholds: the snapshots are the "
                         "unconstrained model's, measured at the single threshold 0 "
                         "(the chosen one is the best by objective); the group "
                         "thresholds above are chosen afterwards and meet the "
                         "constraints.</p>")
    from fairgate.report import data_facts
    parts.append(data_facts.render_html(report))
    parts.append("</body></html>")
    return "\n".join(parts)


def _calibration_html(report: Dict[str, Any]) -> str:
    fit = report.get("calibration_fit")
    models = report.get("models", {})
    drawn = [label for label, model in models.items() if model.get("calibration")]
    missing = [label for label in models if label not in drawn]
    why = ("its evaluation has no calibration bins (no CalibrationPlot in its "
           "EvalConfig, or no example scored)")
    if not drawn or "calibration" not in report.get("figures", {}):
        curves = ("<p id='calibration-missing'>No reliability curve was drawn: no "
                  f"evaluated model has calibration bins "
                  f"({html.escape(', '.join(missing) or 'no model evaluated')}: no "
                  "CalibrationPlot in the EvalConfig, or no example scored).</p>")
    else:
        curves = (f"<p>Reliability curves on the evaluated split (figure "
                  f"<i>calibration.png</i>) for: {html.escape(', '.join(drawn))}: per "
                  "score bin, the mean predicted probability against the observed "
                  "positive rate, with the examples per bin.</p>")
        if missing:
            curves += ("<p id='calibration-missing'>No curve for "
                       f"{html.escape(', '.join(missing))}: {why}.</p>")
    parts = ["<h2 id='calibration'>Calibration</h2>", curves,
             "<p>Scores are calibrated on the eval split by a "
             "scale-only sigmoid <code>p = sigmoid(a &middot; margin)</code>, a &gt; 0 "
             "(margin: the logit, minus the group's threshold in mode "
             "group_thresholds), which never moves a decision at 0.5.</p>"]
    if fit:
        parts.append(
            "<table id='calibration-fit'><tr><th>model</th><th>scale a</th>"
            "<th>eval examples</th><th>log-loss before</th><th>log-loss after</th>"
            "<th>ECE before</th><th>ECE after</th></tr>"
            f"<tr><td class='name'>candidate</td><td>{_fmt(fit.get('scale'))}</td>"
            f"<td>{_fmt(fit.get('n'))}</td><td>{_fmt(fit.get('log_loss_before'))}</td>"
            f"<td>{_fmt(fit.get('log_loss_after'))}</td>"
            f"<td>{_fmt(fit.get('ece_before'))}</td><td>{_fmt(fit.get('ece_after'))}</td>"
            "</tr></table>")
        if fit.get("warning"):
            parts.append("<p id='calibration-warning' class='fail'>Calibration fit: "
                         f"{html.escape(fit['warning'])}.</p>")
    return "\n".join(parts)


def _group_thresholds_html(report: Dict[str, Any]) -> str:
    record = report.get("group_thresholds")
    if not record:
        return ""
    rows = "".join(
        f"<tr><td class='name'>{html.escape(str(record.get('group', '')))}="
        f"{html.escape(str(item['group']))}</td><td>{item['threshold']:.4f}</td></tr>"
        for item in record.get("thresholds", []))
    level = record.get("selection_level")
    judged = f"one-sided {level * 100:g}% bounds" if level else "point estimates"
    return (
        "<h2>Group thresholds</h2><p>Trainer mode <b>group_thresholds</b>: the "
        "unconstrained model with one decision threshold per group (in logit space; "
        "positive when the logit exceeds the group's threshold), chosen on the eval "
        f"split to meet the constraints ({html.escape('; '.join(record.get('constraints', [])))}"
        f", judged by {judged}) with the best {html.escape(record.get('objective', ''))}. "
        "This treats the groups differently on purpose (explicit disparate "
        "treatment), and the served model needs the group of every example. A group "
        "without a threshold uses "
        f"{record.get('default_threshold', 0.0):g}.</p>"
        f"<table id='group-thresholds'><tr><th>group</th><th>threshold</th></tr>{rows}"
        "</table>")
