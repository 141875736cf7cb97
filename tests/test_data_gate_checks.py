"""The gate's checks on statistics built by TFDV from small frames."""
import os
import re

import numpy as np
import pandas as pd
import tensorflow_data_validation as tfdv

from tensorflow_metadata.proto.v0 import statistics_pb2

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


# Stored images: one bytes value of size*size*3 uint8 pixels per example.
SIZE = 8
IMAGE = {"feature": "image", "image_size": SIZE}


def _image_stats(images, labels=None):
    """TFDV statistics with the pipeline's StatisticsGen options (image as bytes)."""
    from pipeline.pipeline import statistics_options
    from tests.pipeline_helpers import make_config
    import tempfile
    config = make_config(tempfile.mkdtemp(), source="embedded_celeba", image_size=SIZE)
    n = len(images)
    frame = pd.DataFrame({"image": [bytes(i) for i in images],
                          "label": np.arange(n) % 2 if labels is None else labels,
                          "group": ["a", "b"] * (n // 2)})
    return tfdv.generate_statistics_from_dataframe(
        frame, stats_options=statistics_options(config)).datasets[0]


def _faces(n, rng, brightness=120):
    return [rng.integers(brightness - 60, brightness + 60, SIZE * SIZE * 3,
                         dtype=np.uint8).tobytes() for _ in range(n)]


def _summary(**splits):
    from fairgate.data import image_summary
    pixels = {}
    for name, images in splits.items():
        pixels[name] = image_summary.SplitPixels()
        pixels[name].add(np.frombuffer(b"".join(images), np.uint8).reshape(len(images), -1))
    return {"image_bytes": SIZE * SIZE * 3,
            "splits": {name: p.as_dict() for name, p in pixels.items()}}


def test_image_statistics_are_bytes_lengths_and_schema_has_no_string_domain():
    stats = _image_stats(_faces(40, np.random.default_rng(0)))
    image = next(f for f in stats.features if f.path.step == ["image"])
    assert image.WhichOneof("stats") == "bytes_stats"
    assert image.bytes_stats.min_num_bytes == image.bytes_stats.max_num_bytes == 192
    feature = next(f for f in tfdv.infer_schema(
        statistics_pb2.DatasetFeatureStatisticsList(datasets=[stats])).feature if f.name == "image")
    assert feature.WhichOneof("domain_info") is None and not feature.domain


def test_good_images_pass():
    rng = np.random.default_rng(1)
    train, test = _faces(40, rng), _faces(20, rng)
    stats = {"train": _image_stats(train), "test": _image_stats(test)}
    assert checks.find_problems(stats, {}, "label", "group", image=IMAGE,
                                pixel_summary=_summary(train=train, test=test)) == []


def test_image_of_the_wrong_size_is_named_with_split_feature_and_sizes():
    rng = np.random.default_rng(2)
    train, eval_ = _faces(40, rng), _faces(20, rng)
    eval_[7] = eval_[7][:150]  # one image too short
    stats = {"train": _image_stats(train), "eval": _image_stats(eval_)}
    problems = checks.find_problems(stats, {}, "label", "group", image=IMAGE,
                                    pixel_summary=_summary(train=train))
    assert problems == [
        "split 'eval': feature 'image': every image must be exactly 192 bytes (8x8x3 "
        "uint8 pixels); found images of 150 to 192 bytes (expected 192)"]


def test_float_images_of_an_older_example_gen_are_refused():
    frame = _good()
    frame["image"] = np.linspace(0, 1, len(frame))
    problems = checks.image_size_problems("train", _stats(frame), "image", SIZE)
    assert problems and problems[0].startswith("split 'train': feature 'image' holds "
                                               "numbers; expected one bytes value of 192")


def test_blank_image_split_is_named():
    rng = np.random.default_rng(3)
    train, test = _faces(40, rng), _faces(60, rng)
    test[:2] = [bytes(SIZE * SIZE * 3)] * 2  # all black
    stats = {"train": _image_stats(train), "test": _image_stats(test)}
    problems = checks.find_problems(stats, {}, "label", "group", image=IMAGE,
                                    pixel_summary=_summary(train=train, test=test))
    assert problems == ["split 'test': feature 'image': 2 of 60 images are blank (one "
                        "value in every pixel); at most 1% may be"]


def test_split_far_from_trains_brightness_is_named():
    rng = np.random.default_rng(4)
    train, eval_ = _faces(40, rng, brightness=100), _faces(20, rng, brightness=180)
    problems = checks.pixel_problems(_summary(train=train, eval=eval_), "image", SIZE)
    assert len(problems) == 1 and re.fullmatch(
        r"split 'eval': feature 'image': mean brightness 179\.\d is far from train's "
        r"99\.\d \(more than 25 of 255 levels apart\)", problems[0]), problems


def test_missing_pixel_summary_is_a_problem():
    assert "has no pixel summary" in checks.pixel_problems(None, "image", SIZE)[0]


def _gate_run(tmp_path, splits, summary):
    """Runs the gate's executor on real artifacts: TFDV statistics of `splits`
    ({split: images}), the schema inferred from train, anomalies, and the
    examples artifact holding `summary` as its image_summary.json."""
    import json
    import os
    from tfx.types import artifact_utils, standard_artifacts
    from tfx.utils import io_utils
    from components.data_gate import executor

    def artifact(kind, name):
        made = kind()
        made.uri = str(tmp_path / name)
        if "split_names" in (kind.PROPERTIES or {}):
            made.split_names = artifact_utils.encode_split_names(sorted(splits))
        os.makedirs(made.uri)
        return made

    statistics = artifact(standard_artifacts.ExampleStatistics, "statistics")
    anomalies = artifact(standard_artifacts.ExampleAnomalies, "anomalies")
    schema, examples, validated = (artifact(kind, name) for kind, name in (
        (standard_artifacts.Schema, "schema"), (standard_artifacts.Examples, "examples"),
        (standard_artifacts.Schema, "validated")))
    stats = {split: _image_stats(images) for split, images in splits.items()}
    inferred = tfdv.infer_schema(
        statistics_pb2.DatasetFeatureStatisticsList(datasets=[stats["train"]]))
    io_utils.write_pbtxt_file(os.path.join(schema.uri, "schema.pbtxt"), inferred)
    for split, split_stats in stats.items():
        listed = statistics_pb2.DatasetFeatureStatisticsList(datasets=[split_stats])
        os.makedirs(os.path.join(statistics.uri, f"Split-{split}"))
        with open(os.path.join(statistics.uri, f"Split-{split}", "FeatureStats.pb"),
                  "wb") as f:
            f.write(listed.SerializeToString())
        os.makedirs(os.path.join(anomalies.uri, f"Split-{split}"))
        with open(os.path.join(anomalies.uri, f"Split-{split}", "SchemaDiff.pb"), "wb") as f:
            f.write(tfdv.validate_statistics(listed, inferred).SerializeToString())
    with open(os.path.join(examples.uri, "image_summary.json"), "w") as f:
        json.dump(summary, f)
    executor.Executor().Do(
        {"statistics": [statistics], "anomalies": [anomalies], "schema": [schema],
         "examples": [examples]},
        {"validated_schema": [validated]},
        {"label_key": "label", "group_key": "group", "feature_bounds": "{}",
         "run_columns": "", "image": json.dumps(IMAGE)})
    return validated


def test_gate_component_stops_on_a_wrong_size_image_and_a_blank_split(tmp_path):
    import pytest
    from components.data_gate import executor
    rng = np.random.default_rng(5)
    train, test = _faces(40, rng), _faces(60, rng)
    validated = _gate_run(tmp_path / "good", {"train": train, "test": test},
                          _summary(train=train, test=test))
    assert os.listdir(validated.uri) == ["schema.pbtxt"]

    short, blank = list(test), list(test)
    short[3] = short[3][:-1]
    blank[:2] = [bytes(SIZE * SIZE * 3)] * 2
    with pytest.raises(executor.DataValidationError,
                       match=r"split 'test': feature 'image': every image must be "
                             r"exactly 192 bytes .*found images of 191 to 192 bytes"):
        _gate_run(tmp_path / "short", {"train": train, "test": short},
                  _summary(train=train, test=test))
    with pytest.raises(executor.DataValidationError,
                       match=r"split 'test': feature 'image': 2 of 60 images are blank"):
        _gate_run(tmp_path / "blank", {"train": train, "test": blank},
                  _summary(train=train, test=blank))
