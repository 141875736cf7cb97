"""ServingModel: which version counts as the model in serving, and the
Evaluator's refusal of a stale baseline."""
import json
import os

import pytest
from tfx.types import standard_artifacts

from components.gated_pusher import executor as pusher
from components.serving_model import executor


def _version(base, version, marker=None, complete=True):
    folder = base / str(version)
    (folder / "variables").mkdir(parents=True)
    (folder / "variables" / "variables.index").write_text("v")
    if complete:
        (folder / "saved_model.pb").write_text(f"model {version}")
    if marker is not None:
        (folder / pusher.MARKER).write_text(json.dumps({"fingerprint": marker}))


@pytest.fixture
def serving(tmp_path):
    base = tmp_path / "serving"
    _version(base, 100, marker="aaa")                   # pushed by fairgate
    _version(base, 200)                                 # copied there by hand
    _version(base, 300, marker="ccc", complete=False)   # push interrupted (object storage)
    return base


def test_the_newest_loadable_version_is_in_serving_whoever_pushed_it(serving, tmp_path):
    assert executor.newest_complete_version(str(serving)) == "200"
    assert executor.newest_complete_version(str(tmp_path / "none")) is None


def test_an_interrupted_push_does_not_count_as_pushed(serving):
    assert pusher.find_push(str(serving), "aaa") == "100"
    assert pusher.find_push(str(serving), "ccc") is None  # pushed again, completely


def _run_serving_model(base, tmp_path):
    model = standard_artifacts.Model()
    model.uri = str(tmp_path / "out" / "model")
    executor.ServingModelExecutor().Do({}, {"model": [model]},
                                       {"push_destination": str(base)})
    return model


def test_serving_model_hands_on_a_copy_and_says_which(serving, tmp_path):
    model = _run_serving_model(serving, tmp_path)
    record = executor.read_record(model.uri)
    assert record["in_serving"] and record["version"] == "200"
    assert record["path"] == str(serving / "200") and record["fingerprint"] == ""
    copied = os.path.join(model.uri, "Format-Serving", "saved_model.pb")
    assert open(copied).read() == "model 200"
    assert executor.holds_model(model.uri)
    executor.check_current(record)  # still what is in serving


def test_nothing_in_serving_is_no_baseline(tmp_path):
    model = _run_serving_model(tmp_path / "empty", tmp_path)
    assert executor.read_record(model.uri)["in_serving"] is False
    assert not executor.holds_model(model.uri)


def test_a_stale_baseline_is_refused(serving, tmp_path):
    """ServingModel's output reused from a cache after a newer push."""
    record = executor.read_record(_run_serving_model(serving, tmp_path).uri)
    _version(serving, 400, marker="ddd")
    with pytest.raises(RuntimeError, match="is version 400, but the baseline handed "
                                           "to the Evaluator is version 200"):
        executor.check_current(record)
    with pytest.raises(RuntimeError, match="enable_caching"):
        executor.check_current({"in_serving": False, "push_destination": str(serving)})
