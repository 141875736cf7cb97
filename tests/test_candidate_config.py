"""The `candidate:` section's bad input: each case stops the run before anything
runs (exit 2), naming the key and the config file (README "Gate your own
model"). Fast: no pipeline runs; the SavedModels here are hand-written
saved_model.pb files with only their signatures."""
import csv
import os
import subprocess
import sys

import pytest
import yaml

from fairgate import config as config_lib
from fairgate.data import preflight
from fairgate.config import ConfigError


def _config(tmp_path, candidate, **extra):
    return {"name": "c", "data": {"source": "csv", "input_base": str(tmp_path / "data"),
                                  "label": "label", "group": "group"},
            "candidate": candidate, **extra}


def _load(tmp_path, candidate, **extra):
    return config_lib.from_dict(_config(tmp_path, candidate, **extra),
                                origin=str(tmp_path / "run.yaml"))


def _saved_model(path, signatures):
    """A saved_model.pb holding only `signatures` ({name: [output keys]})."""
    from tensorflow.core.protobuf import saved_model_pb2
    model = saved_model_pb2.SavedModel()
    graph = model.meta_graphs.add()
    for name, outputs in signatures.items():
        signature = graph.signature_def[name]
        signature.inputs["examples"].name = "examples:0"
        for key in outputs:
            signature.outputs[key].name = f"{key}:0"
    os.makedirs(path, exist_ok=True)
    with open(os.path.join(path, "saved_model.pb"), "wb") as f:
        f.write(model.SerializeToString())
    return str(path)


def _scores_csv(tmp_path, scores, name="part.csv"):
    folder = tmp_path / "data"
    folder.mkdir(exist_ok=True)
    with open(folder / name, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["x", "group", "label", "score"])
        for i, score in enumerate(scores):
            writer.writerow([i, i % 2, (i + 1) % 2, score])


def test_candidate_with_a_trainer_section_names_trainer(tmp_path):
    with pytest.raises(ConfigError, match=r"'trainer' in .*run.yaml: does not apply "
                                          r"with a candidate section"):
        _load(tmp_path, {"predictions": "score"}, trainer={"mode": "none"})


def test_model_and_predictions_together(tmp_path):
    with pytest.raises(ConfigError, match=r"'candidate.predictions' in .*run.yaml: "
                                          r"give candidate.model or candidate.predictions"):
        _load(tmp_path, {"predictions": "score", "model": str(tmp_path)})


def test_neither_model_nor_predictions(tmp_path):
    with pytest.raises(ConfigError, match=r"'candidate.model' in .*run.yaml: .*needs"):
        _load(tmp_path, {"output_key": "p"})


def test_model_missing_and_not_a_saved_model(tmp_path):
    with pytest.raises(ConfigError, match=r"'candidate.model' in .*run.yaml: "
                                          r".*nowhere does not exist"):
        _load(tmp_path, {"model": str(tmp_path / "nowhere")})
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "readme.txt").write_text("no model")
    with pytest.raises(ConfigError, match=r"'candidate.model' in .*run.yaml: .*notes "
                                          r"is not a SavedModel.*found: readme.txt"):
        _load(tmp_path, {"model": str(tmp_path / "notes")})


def test_artifact_missing(tmp_path):
    with pytest.raises(ConfigError, match=r"'candidate.artifact' in .*run.yaml: "
                                          r".*gone does not exist"):
        _load(tmp_path, {"predictions": "score", "artifact": str(tmp_path / "gone")})


def test_keys_of_the_other_mode_are_refused(tmp_path):
    with pytest.raises(ConfigError, match=r"'candidate.output_key' .*applies with "
                                          r"candidate.model"):
        _load(tmp_path, {"predictions": "score", "output_key": "p"})
    model = _saved_model(tmp_path / "m", {"serving_default": ["p"]})
    with pytest.raises(ConfigError, match=r"'candidate.baseline_predictions' .*applies "
                                          r"with candidate.predictions"):
        _load(tmp_path, {"model": model, "baseline_predictions": "old"})


def test_signature_checks_name_the_key_and_list_what_is_there(tmp_path):
    no_default = _saved_model(tmp_path / "a", {"predict": ["p"]})
    with pytest.raises(ConfigError, match=r"'candidate.model' in .*run.yaml: .* has no "
                                          r"'serving_default' signature \(signatures: predict\)"):
        preflight.check_config(_load(tmp_path, {"model": no_default}))
    two = _saved_model(tmp_path / "b", {"serving_default": ["logit", "probability"]})
    with pytest.raises(ConfigError, match=r"'candidate.output_key' in .*run.yaml: 'score' "
                                          r"is not an output .*\(outputs: logit, probability\)"):
        preflight.check_config(_load(tmp_path, {"model": two, "output_key": "score"}))
    with pytest.raises(ConfigError, match=r"'candidate.output_key' in .*run.yaml: .*several "
                                          r"outputs \(logit, probability\)"):
        preflight.check_config(_load(tmp_path, {"model": two}))
    preflight.check_config(_load(tmp_path, {"model": two, "output_key": "probability"}))


@pytest.mark.parametrize("scores, message", [
    ([0.1, 0.9, "", 0.3], r"part.csv line 4: the score column 'score' is empty"),
    ([0.1, 0.9, 0.5, 7], r"part.csv line 5: score '7' in 'score' is not in \[0, 1\]"),
    ([0.1, "high"], r"part.csv line 3: score 'high' in 'score' is not in \[0, 1\]"),
])
def test_score_column_values_name_file_and_line(tmp_path, scores, message):
    _scores_csv(tmp_path, scores)
    with pytest.raises(ConfigError, match=r"'candidate.predictions' in .*run.yaml: .*" +
                       message):
        preflight.check_inputs(_load(tmp_path, {"predictions": "score"}))


def test_score_column_not_in_the_data(tmp_path):
    _scores_csv(tmp_path, [0.2, 0.8])
    with pytest.raises(ConfigError, match=r"'candidate.baseline_predictions' in "
                       r".*run.yaml: 'old_score' is not a column of .*part.csv "
                       r"\(columns: x, group, label, score\)"):
        preflight.check_inputs(_load(tmp_path, {"predictions": "score",
                                                "baseline_predictions": "old_score"}))


def test_cli_exits_2_naming_key_and_file(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(_config(tmp_path, {"predictions": "score"},
                                           trainer={"mode": "none"})))
    result = subprocess.run(
        [sys.executable, "-m", "fairgate.cli", "run", "--config", str(path)],
        capture_output=True, text=True, timeout=120,
        env={**os.environ, "PYTHONPATH": os.getcwd()})
    assert result.returncode == 2, result.stderr
    assert f"'trainer' in {path}" in result.stderr


def test_schema_documents_the_candidate_section():
    schema = config_lib.json_schema()
    section = schema["$defs"]["CandidateConfig"]["properties"]
    assert set(section) == {"model", "output_key", "predictions",
                            "baseline_predictions", "artifact"}
    assert "serving_default" in section["model"]["description"]
