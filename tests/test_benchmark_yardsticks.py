"""The benchmarks' yardsticks: the sampled profile, the DAG's floor and where a
missed target is attributed, the widened tabular rows (no pipeline runs here)."""
import os
import sys
import time

import numpy as np
import pytest

BENCHMARKS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                          "benchmarks")
sys.path.insert(0, BENCHMARKS)

import pipeline_e2e  # noqa: E402
import profiled_run  # noqa: E402
import stack_sampler  # noqa: E402


def _waits_in_the_main_thread(seconds):
    time.sleep(seconds)


def test_sampler_attributes_the_main_threads_wall_time_to_what_it_ran():
    sampler = stack_sampler.Sampler(interval=0.005).start()
    start = time.time()
    _waits_in_the_main_thread(0.4)
    middle = time.time()
    sum(i * i for i in range(300_000))
    end = time.time()
    sampler.stop()
    profile = sampler.profile()
    waiting = stack_sampler.summary(profile, start, middle)
    top = waiting["top_of_stack"][0]
    assert top["function"].endswith(":_waits_in_the_main_thread")
    assert top["share"] > 0.9
    # Samples weigh the time since the one before: the window's wall time.
    assert waiting["seconds"] == pytest.approx(middle - start, abs=0.05)
    later = stack_sampler.summary(profile, middle, end)
    assert all(not f["function"].endswith(":_waits_in_the_main_thread")
               for f in later["top_of_stack"])


def _sorts_holding_the_gil(values):
    return sorted(values)


def test_time_the_sampler_could_not_sample_is_delayed_not_put_on_the_next_frame():
    # list.sort of floats runs in C and never lets go of the GIL: the sampler
    # cannot run until it ends, and then reads whatever the main thread does next.
    values = np.random.default_rng(0).random(2_000_000).tolist()
    sampler = stack_sampler.Sampler(interval=0.005).start()
    time.sleep(0.05)  # a sample before the sort, so its gap is measured
    start = time.time()
    _sorts_holding_the_gil(values)
    sorted_at = time.time()
    _waits_in_the_main_thread(0.2)
    end = time.time()
    sampler.stop()
    found = stack_sampler.summary(sampler.profile(), start, end)
    assert sorted_at - start > 0.3, "the sort was too quick to starve the sampler"
    assert found["delayed_seconds"] >= sorted_at - start - 0.1
    by_top = {f["function"]: f["seconds"] for f in found["top_of_stack"]}
    assert by_top[stack_sampler.DELAYED] == found["delayed_seconds"]
    waiting = next(s for f, s in by_top.items() if f.endswith(":_waits_in_the_main_thread"))
    assert waiting == pytest.approx(end - sorted_at, abs=0.08)
    assert found["seconds"] == pytest.approx(end - start, abs=0.05)


def test_the_wrapper_writes_the_profile_of_a_command_that_exits_as_fairgate_does(
        tmp_path):
    """`fairgate` leaves through os._exit (fairgate.process_exit): the profile must
    be written before that, or every benchmark's profile is empty."""
    import subprocess
    (tmp_path / "exits_now.py").write_text(
        "import time\n"
        "from fairgate import process_exit\n"
        "time.sleep(0.3)\n"
        "process_exit.exit_now(4)\n")
    out = tmp_path / "profile.json"
    root = os.path.dirname(BENCHMARKS)
    done = subprocess.run(
        [sys.executable, os.path.join(BENCHMARKS, "stack_sampler.py"), "--out", str(out),
         "-m", "exits_now"], cwd=str(tmp_path), capture_output=True, text=True,
        timeout=60, env={**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), root])})
    assert done.returncode == 4, done.stderr
    profile = stack_sampler.load(str(out))
    assert profile["samples"], profile
    assert any(f.endswith(":<module>") for f in profile["functions"]), profile["functions"]


def test_summary_splits_a_window_by_the_innermost_project_frame():
    functions = ["fairgate/cli.py:main", "pipeline/runners.py:_run",
                 "trainer_module/run_fn.py:_train_and_export",
                 "trainer_module/training.py:train_with_snapshots",
                 "tensorflow/python/eager/execute.py:quick_execute",
                 "trainer_module/export.py:save", "tensorflow/saved_model/save.py:save"]
    stacks = [[0, 1, 2, 3, 4]] * 6 + [[0, 1, 2, 5, 6]] * 3 + [[0]]
    samples = [[100.0 + 0.1 * i, s] for i, s in enumerate(stacks)]
    profile = {"interval": 0.1, "functions": functions, "samples": samples}
    found = stack_sampler.summary(profile, 100.05, 101.0)
    assert found["samples"] == 9
    by_project = {f["function"]: f["seconds"] for f in found["project_frames"]}
    assert by_project == pytest.approx({
        "trainer_module/training.py:train_with_snapshots": 0.5,
        "trainer_module/export.py:save": 0.3,
        "(outside the project's code)": 0.1})  # the CLI is not the component's
    assert found["top_of_stack"][0]["function"].endswith("quick_execute")


def _components(**seconds):
    return {name: {"seconds": s, "peak_rss_gb": 1.0} for name, s in seconds.items()}


def test_floor_is_ingest_plus_each_trainer_and_evaluator():
    components = _components(CelebAExampleGen=10.0, StatisticsGen=5.0, Trainer=30.0,
                             BaselineTrainer=20.0, Evaluator=9.0,
                             UnconstrainedEvaluator=6.0)
    found = pipeline_e2e.floors(components, ingest=8.0, train=12.0, evaluate=4.0)
    assert found["floor_seconds"] == 8.0 + 2 * 12.0 + 2 * 4.0
    assert found["floor_counts"] == {"trainers": 2, "evaluators": 2}
    assert components["Trainer"]["excess_seconds"] == 18.0
    assert components["StatisticsGen"]["floor_seconds"] == 0.0
    assert components["StatisticsGen"]["excess_seconds"] == 5.0
    one = _components(CelebAExampleGen=10.0, Trainer=30.0, Evaluator=9.0)
    assert pipeline_e2e.floors(one, 8.0, 12.0, 4.0)["floor_seconds"] == 24.0


def test_a_missed_ratio_names_the_component_furthest_above_its_floor():
    functions = ["trainer_module/training.py:train_with_snapshots",
                 "tensorflow_data_validation/x.py:stats"]
    samples = [[float(t), [0]] for t in range(10, 40)] + \
        [[float(t), [1]] for t in range(41, 50)]
    run = profiled_run.Run(0, 60.0, [(t, 2**30) for t in range(0, 60)],
                           {"Trainer": (10.0, 40.0), "StatisticsGen": (40.0, 50.0)},
                           {"interval": 1.0, "functions": functions,
                            "samples": samples}, "VERDICT: BLESSED\n")
    components = run.components()
    pipeline_e2e.floors(components, ingest=0.0, train=25.0, evaluate=0.0)
    # StatisticsGen has no floor: 10 s over it; the Trainer only 5 s over its own.
    result = {"ratio": 2.0, "peak_rss_gb": 1.0, "wall_seconds": 60.0}
    found = pipeline_e2e._targets(pipeline_e2e.CELEBA_SIZE, result, components, run)
    assert not found["targets_met"]
    (missed,) = found["missed"]
    assert (missed["target"], missed["component"]) == ("ratio", "StatisticsGen")
    assert missed["profile"]["top_of_stack"][0]["function"].endswith(":stats")
    assert found["bottleneck"]["component"] == "Trainer"
    assert run.verdicts() == ["VERDICT: BLESSED"]
    met = pipeline_e2e._targets(pipeline_e2e.CELEBA_SIZE, {**result, "ratio": 1.2},
                                components, run)
    assert met["targets_met"] and met["missed"] == []


def test_wide_tabular_rows_have_a_dozen_mixed_features():
    import train_throughput
    rows = train_throughput.wide_rows(2000, seed=0)
    features = [c for c in rows if c not in ("approved", "region")]
    assert len(features) == 12
    categorical = [c for c in features if np.asarray(rows[c]).dtype.kind in "US"
                   and c != "balance"]
    assert len(categorical) == 4 and len(features) - len(categorical) == 8
    empty = np.asarray(rows["balance"]) == ""
    assert 0 < empty.mean() < 0.1
    assert list(rows)[-2:] == ["region", "approved"]
    # The group FPR gap of the biased rows is still there.
    score, label, region = (np.asarray(rows[c]) for c in ("score", "approved", "region"))
    negatives = label == 0
    rate = {g: float((score[negatives & (region == g)] > 0.5).mean())
            for g in ("north", "south")}
    assert rate["south"] - rate["north"] > 0.3


def test_the_train_floor_gathers_each_example_once_per_epoch_with_its_label():
    import train_floor
    features = {"x": np.arange(50, dtype=np.float32).reshape(25, 2),
                "name": np.array([f"row{i}" for i in range(25)])}
    labels = np.arange(25, dtype=np.int64).reshape(-1, 1) * 10
    batches = train_floor.in_memory_batches(features, labels, batch_size=4, seed=1)
    epochs = [[], []]
    for index, (batch, label) in enumerate(batches.take(12)):  # 6 full batches an epoch
        x = batch["x"].numpy()
        rows = (x[:, 0] / 2).astype(int)
        assert list(x[:, 1]) == list(x[:, 0] + 1)  # whole rows, not mixed columns
        assert [n.decode() for n in batch["name"].numpy()] == [f"row{r}" for r in rows]
        assert list(label.numpy()[:, 0]) == list(rows * 10)
        epochs[index // 6].extend(rows)
    for seen in epochs:  # 24 distinct rows of 25: the partial batch dropped
        assert len(seen) == len(set(seen)) == 24
    assert epochs[0] != epochs[1]  # shuffled again each epoch


def test_the_ingest_floor_decodes_every_image_with_each_reader(tiny_tfds_dir):
    import ingest_floor
    from fairgate.data import embedded_celeba
    folder = str(embedded_celeba.prepare(tiny_tfds_dir, num_examples=300, seed=3).data_path)
    found = ingest_floor.floor_seconds(folder, image_size=8, batch=64)
    assert found["images"] == 300
    assert set(found["seconds_by_reader"]) == {"serial", "parallel"}
    assert found["seconds"] == min(found["seconds_by_reader"].values())


def test_a_benchmark_runs_another_checkouts_fairgate(tmp_path):
    checkout = tmp_path / "checkout"
    (checkout / "fairgate").mkdir(parents=True)
    (checkout / "fairgate" / "__init__.py").write_text("")
    (checkout / "fairgate" / "cli.py").write_text(
        "import fairgate, sys\nprint('ran', fairgate.__file__, sys.argv[1:])\n")
    work = tmp_path / "work"
    work.mkdir()
    config = work / "config.yaml"
    config.write_text(f"metadata_path: {work / 'absent.sqlite'}\n")
    run = profiled_run.run(str(config), str(work), code=str(checkout))
    assert run.exit_code == 0
    assert f"ran {checkout / 'fairgate' / '__init__.py'}" in run.output
    assert "'run', '--config'" in run.output
    assert profiled_run.commit(str(checkout)) == "unknown"  # not a git checkout


def test_beams_phases_keep_the_samplers_delays_apart():
    import beam_fixed_cost
    functions = ["apache_beam/runners/portability/fn_api_runner/fn_runner.py:run_stages",
                 "apache_beam/runners/worker/bundle_processor.py:process_bundle"]
    # 10 ms samples, then one that came 0.5 s late
    samples = [[100.0 + 0.01 * i, [0, 1]] for i in range(10)] + [[100.59, [0, 1]]]
    found = beam_fixed_cost.phases({"interval": 0.01, "switch_interval": 0.005,
                                    "functions": functions, "samples": samples})
    assert found["processing bundles (the rows)"] == pytest.approx(0.12, abs=0.001)
    assert found[stack_sampler.DELAYED] == pytest.approx(0.48, abs=0.001)
