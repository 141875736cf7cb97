"""GatedPusher's push: once per model content, never half-written."""
import os

import pytest

from components.gated_pusher import executor as pusher


def _model(path, content=b"weights"):
    os.makedirs(os.path.join(path, "variables"), exist_ok=True)
    with open(os.path.join(path, "saved_model.pb"), "wb") as f:
        f.write(b"graph")
    with open(os.path.join(path, "variables", "variables.data"), "wb") as f:
        f.write(content)
    return str(path)


def test_fingerprint_follows_content_not_location(tmp_path):
    a = _model(tmp_path / "a")
    b = _model(tmp_path / "b")
    c = _model(tmp_path / "c", content=b"other weights")
    assert pusher.fingerprint(a) == pusher.fingerprint(b) != pusher.fingerprint(c)


def test_push_writes_a_numbered_version_with_its_record(tmp_path):
    model = _model(tmp_path / "model")
    serving = str(tmp_path / "serving")
    mark = pusher.fingerprint(model)
    version = pusher.push(model, serving, {"fingerprint": mark})
    assert pusher.pushed_versions(serving) == [version]
    assert pusher.find_push(serving, mark) == version
    assert os.path.exists(os.path.join(serving, version, "variables", "variables.data"))
    assert pusher.find_push(serving, pusher.fingerprint(
        _model(tmp_path / "other", content=b"new"))) is None


def test_interrupted_push_leaves_no_version_and_is_cleaned_up(tmp_path, monkeypatch):
    model = _model(tmp_path / "model")
    serving = str(tmp_path / "serving")
    real_copy = pusher.io_utils.copy_dir

    def copy_then_die(src, dst, **kwargs):
        real_copy(src, dst, **kwargs)  # the files land, then the process "dies"
        raise KeyboardInterrupt

    monkeypatch.setattr(pusher.io_utils, "copy_dir", copy_then_die)
    with pytest.raises(KeyboardInterrupt):
        pusher.push(model, serving, {"fingerprint": "x"})
    assert pusher.pushed_versions(serving) == []  # nothing a server would load
    assert any(n.startswith(pusher.INCOMING_PREFIX) for n in os.listdir(serving))

    monkeypatch.setattr(pusher.io_utils, "copy_dir", real_copy)
    version = pusher.push(model, serving, {"fingerprint": "x"})
    assert os.listdir(serving) == [version]  # the leftover is gone


def test_new_versions_stay_above_existing_ones(tmp_path):
    serving = tmp_path / "serving"
    (serving / "9999999999").mkdir(parents=True)  # pushed by a pod whose clock ran ahead
    assert pusher.next_version(str(serving)) == 10_000_000_000
