"""A team's own Keras model through the gate (trainer.model: {module_file, ...}):
the README's example module, copied outside the repository, trained under an
FPR-gap constraint by the local runner; its SavedModel serves raw tf.Examples in
a process that cannot import the module; caching follows the module's content;
an image module under TFCO; a team's module in mode correlation (mode
group_thresholds: test_group_thresholds_pipeline.py; Kubeflow staging:
test_kfp_local.py)."""
import json
import os
import shutil
import subprocess
import sys
import textwrap

import pytest
import yaml

from fairgate import config as config_lib
from tests import pipeline_helpers as helpers
from tests.tabular import biased_examples, biased_rows, write_biased_csv

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLE = os.path.join(REPO, "configs", "team_model.yaml")


def _config(tmp_path, module_dir, **trainer):
    """configs/team_model.yaml on generated data, its module at `module_dir`."""
    with open(EXAMPLE) as f:
        raw = yaml.safe_load(f)
    raw["data"]["input_base"] = str(tmp_path / "csv")
    raw["trainer"]["model"]["module_file"] = os.path.join(module_dir, "team_model.py")
    raw["trainer"].update(trainer)
    raw["evaluation"]["eval_config"] = os.path.join(REPO, "eval_configs",
                                                    "tabular.pbtxt")
    for key in ("pipeline_root", "push_destination", "report_dir"):
        raw[key] = str(tmp_path / key)
    raw["metadata_path"] = str(tmp_path / "metadata.sqlite")
    return config_lib.from_dict(raw, origin=str(tmp_path / "config.yaml"))


def _trainer_states(config):
    from ml_metadata import metadata_store
    from ml_metadata.proto import metadata_store_pb2
    connection = metadata_store_pb2.ConnectionConfig()
    connection.sqlite.filename_uri = config.resolved_metadata_path
    store = metadata_store.MetadataStore(connection)
    states = {}
    for context in store.get_contexts_by_type("node"):
        component = context.name.split(".", 1)[-1]
        states[component] = [
            metadata_store_pb2.Execution.State.Name(e.last_known_state)
            for e in sorted(store.get_executions_by_context(context.id),
                            key=lambda e: e.id)]
    return states


SERVE = textwrap.dedent("""
    import json, sys
    import tensorflow as tf
    sys.path[:] = [p for p in sys.path if p not in ({module_dir!r}, {repo!r}, "")]
    try:
        import team_layers  # the module must not be importable here
        raise SystemExit("team_layers is importable")
    except ImportError:
        pass
    model = tf.saved_model.load({saved!r})
    names = [v.name for v in model.variables]
    examples = tf.constant({examples!r})
    out = model.signatures["serving_default"](examples=examples)
    print(json.dumps({{"probabilities": out["probabilities"].numpy().reshape(-1).tolist(),
                      "variables": names}}))
""")


# The team model is judged on 400 held-out rows against an accuracy of 0.7: at
# these steps it scored 0.855 there (standard error 0.018), over 8 standard errors above it.
TEAM_STEPS = 600


@pytest.fixture(scope="module")
def team_run(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("team")
    module_dir = str(tmp_path / "outside_the_repository")
    shutil.copytree(os.path.join(REPO, "configs", "models"), module_dir)
    write_biased_csv(tmp_path / "csv" / "data.csv", 4000, seed=0)
    config = _config(tmp_path, module_dir, train_steps=TEAM_STEPS)
    helpers.run(config, enable_cache=True)
    return tmp_path, module_dir, config, helpers.outputs(config)


def test_team_model_is_trained_named_and_served_without_its_module(team_run):
    tmp_path, module_dir, config, outputs = team_run
    trainer_dir = outputs["Trainer"]["model"]
    with open(os.path.join(trainer_dir, "model.json")) as f:
        record = json.load(f)
    assert record["module_file"] == os.path.join(module_dir, "team_model.py")
    assert record["function"] == "build_model" and record["hparams"]["width"] == 64
    assert len(record["fingerprint"]) == 12 and record["parameters"] > 0
    held_out = biased_rows(400, seed=1)
    script = SERVE.format(module_dir=module_dir, repo=REPO,
                          saved=os.path.join(trainer_dir, "Format-Serving"),
                          examples=biased_examples(held_out, 400))
    done = subprocess.run([sys.executable, "-c", script], capture_output=True,
                          text=True, timeout=300, cwd=str(tmp_path),
                          env={**os.environ, "PYTHONPATH": ""})
    assert done.returncode == 0, done.stderr[-3000:]
    served = json.loads(done.stdout.strip().splitlines()[-1])
    assert any("team_hidden" in name for name in served["variables"])
    assert any("team_logit" in name for name in served["variables"])
    import numpy as np
    positive = np.array(served["probabilities"]) > 0.5
    labels = held_out["approved"][:400]
    accuracy = (positive == labels).mean()
    assert accuracy > 0.7, accuracy
    report = helpers.report(config)
    print("team model:", record, "accuracy on 400 held-out rows", accuracy)
    # Blessed or not as the gates measured; pushed exactly when blessed.
    assert report["model"] == record  # the report names the model
    verdict = report["verdict"]
    assert verdict["pushed"] == verdict["blessed"]


def test_unchanged_module_reruns_nothing_and_a_changed_sibling_reruns_the_trainers(
        team_run):
    tmp_path, module_dir, config, _ = team_run
    before = _trainer_states(config)
    helpers.run(config, enable_cache=True)
    again = _trainer_states(config)
    for component in ("Trainer", "BaselineTrainer"):
        assert again[component][len(before[component]):] == ["CACHED"], again
    with open(os.path.join(module_dir, "team_layers.py"), "a") as f:
        f.write("\n# a change to a sibling module\n")
    changed = _config(tmp_path, module_dir, train_steps=TEAM_STEPS)
    assert changed.trainer.model.module_file == config.trainer.model.module_file
    helpers.run(changed, enable_cache=True)
    after = _trainer_states(changed)
    for component in ("Trainer", "BaselineTrainer"):
        assert after[component][len(again[component]):] == ["COMPLETE"], after


def test_an_image_module_trains_under_tfco_and_serves_both_signatures(image_module_run):
    # The shared run on tiny faces with model_modules.SMALL_CNN (conftest): what is
    # judged is the model the module built and its signatures.
    config, _ = image_module_run
    assert helpers.report(config)["training"]["mode"] == "tfco"
    trainer_dir = helpers.outputs(config)["Trainer"]["model"]
    with open(os.path.join(trainer_dir, "model.json")) as f:
        record = json.load(f)
    assert record["function"] == "small_cnn" and record["hparams"] == {"filters": 4}
    import tensorflow as tf
    served = tf.saved_model.load(os.path.join(trainer_dir, "Format-Serving"))
    assert {"serving_default", "serving_image_bytes"} <= set(served.signatures)
    assert any("own_conv" in v.name for v in served.variables)


def _served_logits(model_uri, serialized):
    import tensorflow as tf
    served = tf.saved_model.load(os.path.join(model_uri, "Format-Serving"))
    out = served.signatures["serving_default"](examples=tf.constant(serialized))
    return out["logits"].numpy().reshape(-1), served


def _labels_and_regions(serialized):
    import numpy as np
    import tensorflow as tf
    parsed = [tf.train.Example.FromString(s).features.feature for s in serialized]
    return (np.array([f["approved"].int64_list.value[0] for f in parsed], np.float32),
            np.array([f["region"].bytes_list.value[0] for f in parsed], object))


def test_a_module_in_correlation_mode_lowers_the_score_group_correlation(tmp_path):
    """Mode correlation with a team's module (a subset of the inputs, a [batch]
    logit): the Trainer records the penalty's measure for its chosen snapshot on
    eval, which the served model reproduces, and on test the served scores of
    south's negatives correlate less with the group than those of the same module
    trained unconstrained (BaselineTrainer) in the same run."""
    import numpy as np
    import tensorflow as tf
    from tests import model_modules
    from trainer_module.regularizers import absolute_correlation
    write_biased_csv(tmp_path / "csv" / "data.csv", 2400, seed=0)
    config = helpers.make_config(tmp_path, source="csv", input_base=str(tmp_path / "csv"),
                                 label="approved", group="region")
    raw = config.model_dump()
    raw["evaluation"]["groups"] = ["north", "south"]
    raw["trainer"].update(
        mode="correlation", correlation_group="south", correlation_weight=2.0,
        constraints={"constraints": [{"gap": "false_positive_rate",
                                      "groups": ["north", "south"], "max_gap": 0.05}]},
        model={"module_file": model_modules.write(tmp_path / "team")},
        train_steps=300, snapshot_every=100, learning_rate=0.003)
    config = config_lib.from_dict(raw, origin=str(tmp_path / "config.yaml"))
    helpers.run(config)
    outputs = helpers.outputs(config)
    examples = outputs["CsvExampleGen"]["examples"]

    report = helpers.report(config)
    record = report["training"]["correlation"]
    assert report["training"]["mode"] == "correlation"
    assert report["model"]["function"] == "build_model"
    assert record["group"] == "south" and record["weight"] == 2.0
    eval_split = helpers.split_examples(examples, "eval")
    labels, regions = _labels_and_regions(eval_split)
    assert record["eval_negatives"] == int((labels == 0).sum())
    logits, served = _served_logits(outputs["Trainer"]["model"], eval_split)
    assert any("own_hidden" in v.name for v in served.variables)
    assert record["eval_absolute_correlation"] == pytest.approx(float(
        absolute_correlation(tf.constant(logits), tf.constant(labels),
                             tf.constant(regions), "south")), abs=1e-4)

    test_split = helpers.split_examples(examples, "test")
    labels, regions = _labels_and_regions(test_split)
    measured = {}
    for trainer in ("Trainer", "BaselineTrainer"):
        logits, _ = _served_logits(outputs[trainer]["model"], test_split)
        measured[trainer] = float(absolute_correlation(
            tf.constant(logits), tf.constant(labels), tf.constant(regions), "south"))
    print("|corr(score, south)| among", int((labels == 0).sum()), "test negatives:",
          measured, "eval record:", record)
    assert measured["Trainer"] < measured["BaselineTrainer"], measured
