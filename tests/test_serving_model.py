"""ServingModel: which version counts as the model in serving (the one rule of a
usable version), and the Evaluator's refusal of a stale baseline."""
import json
import os
import shutil

import pytest
from tfx.types import standard_artifacts

from components.evaluator import executor as evaluator
from components.serving_model import executor
from fairgate.release import serving_versions
from tests import push_workers


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    return push_workers.make_models(str(tmp_path_factory.mktemp("models")), 2)


def _version(base, version, model, pushed=False, complete=True):
    folder = base / str(version)
    shutil.copytree(model, folder)
    if not complete:
        os.remove(folder / serving_versions.SAVED_MODEL)
    if pushed:
        (folder / serving_versions.PUSH_RECORD).write_text(json.dumps(
            {"fingerprint": serving_versions.fingerprint(model)}))
    return folder


@pytest.fixture
def serving(tmp_path, models):
    base = tmp_path / "serving"
    _version(base, 100, models[0], pushed=True)                 # pushed by fairgate
    _version(base, 200, models[1])                              # copied there by hand
    _version(base, 300, models[0], pushed=True, complete=False)  # interrupted (object storage)
    return base


def test_the_newest_usable_version_is_in_serving_whoever_pushed_it(serving, tmp_path):
    version, skipped = serving_versions.newest_usable(str(serving))
    assert version == "200"
    assert [s["version"] for s in skipped] == ["300"]
    assert "saved_model.pb is missing" in skipped[0]["reason"]
    assert serving_versions.newest_usable(str(tmp_path / "none")) == (None, [])


def test_an_interrupted_push_does_not_count_as_pushed(serving, models):
    assert serving_versions.find_push(str(serving), serving_versions.fingerprint(
        models[0])) == "100"
    (serving / "100" / serving_versions.SAVED_MODEL).write_bytes(b"")
    assert serving_versions.find_push(str(serving), serving_versions.fingerprint(
        models[0])) is None  # pushed again, completely


def _cut(path, size):
    with open(path, "rb") as f:
        head = f.read(size)
    with open(path, "wb") as f:
        f.write(head)


def test_broken_versions_are_unusable_and_say_why(tmp_path, models):
    truncated = _version(tmp_path, 1, models[0])
    _cut(truncated / "saved_model.pb", 100)
    assert "does not parse as a SavedModel (100 bytes" in \
        serving_versions.unusable_reason(str(truncated))
    no_index = _version(tmp_path, 2, models[0])
    os.remove(no_index / "variables" / "variables.index")
    assert serving_versions.unusable_reason(str(no_index)).endswith(
        "variables/variables.index is missing")
    no_shard = _version(tmp_path, 3, models[0])
    for name in os.listdir(no_shard / "variables"):
        if name.startswith("variables.data"):
            os.remove(no_shard / "variables" / name)
    assert "variables.data-00000-of-00001 is missing" in \
        serving_versions.unusable_reason(str(no_shard))
    altered = _version(tmp_path, 4, models[0], pushed=True)
    shard = [n for n in os.listdir(altered / "variables") if n.startswith("variables.data")]
    _cut(altered / "variables" / shard[0], 1000)
    assert "differ from what GatedPusher pushed" in \
        serving_versions.unusable_reason(str(altered))
    assert serving_versions.unusable_reason(str(_version(tmp_path, 5, models[1]))) is None


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
    assert [u["version"] for u in record["unusable"]] == ["300"]
    copied = os.path.join(model.uri, "Format-Serving", "saved_model.pb")
    assert open(copied, "rb").read() == (serving / "200" / "saved_model.pb").read_bytes()
    assert executor.holds_model(model.uri)
    evaluator.check_current(record)  # still what is in serving


def test_a_corrupted_newest_version_is_named_and_skipped(serving, tmp_path):
    _cut(serving / "200" / "saved_model.pb", 100)
    record = executor.read_record(_run_serving_model(serving, tmp_path).uri)
    assert record["version"] == "100"
    assert [u["version"] for u in record["unusable"]] == ["300", "200"]
    assert "does not parse" in record["unusable"][1]["reason"]
    evaluator.check_current(record)  # the Evaluator applies the same rule


def test_nothing_usable_in_serving_is_no_baseline(tmp_path, models):
    broken = tmp_path / "broken"
    _cut(_version(broken, 7, models[0]) / "saved_model.pb", 100)
    record = executor.read_record(_run_serving_model(broken, tmp_path).uri)
    assert record["in_serving"] is False and record["unusable"][0]["version"] == "7"
    model = _run_serving_model(tmp_path / "empty", tmp_path)
    assert executor.read_record(model.uri)["in_serving"] is False
    assert not executor.holds_model(model.uri)


def test_a_stale_baseline_is_refused(serving, tmp_path, models):
    """ServingModel's output reused from a cache after a newer push."""
    record = executor.read_record(_run_serving_model(serving, tmp_path).uri)
    _version(serving, 400, models[1], pushed=True)
    with pytest.raises(RuntimeError, match="is version 400, but the baseline handed "
                                           "to the Evaluator is version 200"):
        evaluator.check_current(record)
    with pytest.raises(RuntimeError, match="enable_caching"):
        evaluator.check_current({"in_serving": False, "push_destination": str(serving)})
