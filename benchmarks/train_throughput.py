"""Training throughput: the constrained Trainer against `model.fit` of the same model.

Two measures, one run, one JSON document:

* the step loop (`examples_per_s`, `ratio_tfco_*`): the compiled TFCO step vs
  `model.fit` of the same model (the tutorial MLP on 28x28x3), same faces, same
  batch size, in memory; also the tutorial-style eager TFCO loop and the
  XLA-compiled TFCO step;
* the whole Trainer component (`trainer_component`, per input `image` and
  `tabular`): the constrained Trainer's wall time in a `fairgate run`
  (benchmarks/profiled_run.py: its window in ML Metadata, so launch, setup,
  reading the data, snapshots and export are all in) against one plain Keras
  `fit` of the same model for the same steps on the same train split in memory
  (benchmarks/train_floor.py, in its own process). Images: the embedded
  default's faces (`--faces`, the demo's 20,000); tabular: `--tabular-rows`
  generated rows (tests/tabular.py's biased rows widened to a dozen mixed
  columns), `train_steps: 2000`, an FPR-gap constraint. The unconstrained
  baseline is off in these runs (it is not what is measured). Target: `ratio`
  (Trainer over fit) <= 1.5 for both; a missed one names the Trainer and what
  its main thread spent the time on (the sampled profile).

    .venv/bin/python benchmarks/train_throughput.py [--steps 500] [--batch-size 128]
        [--trainer-inputs image,tabular] [--faces 20000] [--tabular-rows 25000]
        [--data-dir TFDS_DIR] [--no-step-loop]
"""
from __future__ import annotations

import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import argparse  # noqa: E402
import json  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "benchmarks"))

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import yaml  # noqa: E402

import profiled_run  # noqa: E402
from fairgate.data.embedded_celeba import faces  # noqa: E402
from fairgate.data.images import to_stored_pixels  # noqa: E402
from tests.tabular import biased_rows, write_rows  # noqa: E402
from trainer_module import constraints, models, training  # noqa: E402

SPEC = {"constraints": [{"rate": "false_positive_rate", "group": 0, "upper_bound": 0.05}]}


def _data(count):
    drawn = [faces.draw_face(np.random.default_rng([1, 0, i])) for i in range(count)]
    pixels = to_stored_pixels(np.stack([f.image for f in drawn])).numpy().reshape(count, -1)
    labels = np.array([f.attributes["Smiling"] for f in drawn], np.float32)
    groups = np.array([f.attributes["Young"] for f in drawn], np.int64)
    return pixels, labels, groups


def _batches(data, batch_size):
    return tf.data.Dataset.from_tensor_slices(data).shuffle(4096, seed=0).batch(
        batch_size, drop_remainder=True).repeat().prefetch(2)


def _constrained(jit_compile=False, eager=False):
    model = models.image_classifier("mlp")
    step, _ = training.constrained_step(
        model, constraints.parse(SPEC, [0, 1]), tf.keras.optimizers.Adam(0.001),
        tf.keras.optimizers.Adam(0.05), group_head_weight=0.0, jit_compile=jit_compile)
    return step.python_function if eager else step


def _time_steps(step, batches, steps, warmup=20):
    iterator = iter(batches)
    for _ in range(warmup):
        step(*next(iterator))
    start = time.perf_counter()
    for _ in range(steps):
        loss = step(*next(iterator))
    float(loss)
    return time.perf_counter() - start


def _time_fit(data, batch_size, steps):
    model = models.image_classifier("mlp")
    model.compile(tf.keras.optimizers.Adam(0.001), loss=tf.keras.losses.Hinge())
    fit_data = tf.data.Dataset.from_tensor_slices((data[0], data[1])).shuffle(
        4096, seed=0).batch(batch_size, drop_remainder=True).repeat().prefetch(2)
    model.fit(fit_data, steps_per_epoch=20, epochs=1, verbose=0)  # warm-up
    start = time.perf_counter()
    model.fit(fit_data, steps_per_epoch=steps, epochs=1, verbose=0)
    return time.perf_counter() - start


TRAINER_TARGET_RATIO = 1.5
TABULAR_STEPS = 2000
TABULAR_GROUPS = ["north", "south"]


def wide_rows(count, seed):
    """tests/tabular.py's biased rows (a known FPR gap between regions) with
    eight more columns: a dozen features, numeric and categorical, one with
    empty cells; the added ones carry a little of the label or nothing."""
    rows = biased_rows(count, seed)
    rng = np.random.default_rng([seed, 1])
    approved = rows["approved"]
    balance = np.round(rng.lognormal(8, 1, count), 2).astype(str)
    balance[rng.random(count) < 0.03] = ""  # empty cells: the missing indicator
    label, group = rows.pop("approved"), rows.pop("region")
    rows.update({
        "hours": np.round(40 + 2 * approved + rng.normal(0, 8, count), 1),
        "education_num": rng.integers(6, 17, count) + approved,
        "tenure_years": np.round(rng.exponential(4, count), 2),
        "dependents": rng.poisson(1.2, count),
        "balance": balance,
        "city": rng.choice(np.array([f"city{i}" for i in range(8)]), count),
        "contract": rng.choice(np.array(["monthly", "yearly", "none"]), count),
        "channel": rng.choice(np.array(["web", "phone", "branch", "agent"]), count),
        "region": group, "approved": label})
    return rows


def _trainer_config(inputs, work, args):
    """The run config of one input kind, written to work/config.yaml."""
    if inputs == "image":
        data = {"source": "embedded_celeba", "num_examples": args.faces,
                "data_dir": os.path.abspath(args.data_dir or
                                            os.path.join(work, "tensorflow_datasets"))}
        trainer = {"baseline": False}
        evaluation = {}
    else:
        write_rows(os.path.join(work, "csv", "rows.csv"),
                   wide_rows(args.tabular_rows, seed=0))
        data = {"source": "csv", "input_base": os.path.join(work, "csv"),
                "label": "approved", "group": "region"}
        trainer = {"mode": "tfco", "baseline": False, "train_steps": TABULAR_STEPS,
                   "learning_rate": 0.003, "constraint_learning_rate": 0.005,
                   "constraints": {"constraints": [
                       {"gap": "false_positive_rate", "groups": TABULAR_GROUPS,
                        "max_gap": 0.05}]}}
        evaluation = {"groups": TABULAR_GROUPS}
    config = {"name": f"train-throughput-{inputs}", "data": data, "trainer": trainer,
              "pipeline_root": os.path.join(work, "root"),
              "metadata_path": os.path.join(work, "metadata.sqlite"),
              "push_destination": os.path.join(work, "serving"),
              "report_dir": os.path.join(work, "report")}
    if evaluation:
        config["evaluation"] = evaluation
    path = os.path.join(work, "config.yaml")
    with open(path, "w") as f:
        yaml.safe_dump(config, f)
    return path


def _trainer_steps(work):
    """The steps the Trainer ran: the last snapshot's step in its candidates.json."""
    import glob
    found = glob.glob(os.path.join(work, "root", "Trainer", "model", "*",
                                   "candidates.json"))
    if not found:
        return None
    with open(found[0]) as f:
        return json.load(f)["candidates"][-1]["step"]


def trainer_component(inputs, args):
    """The constrained Trainer component against a plain fit, for one input kind."""
    work = tempfile.mkdtemp(prefix=f"fairgate-train-{inputs}-")
    try:
        config_path = _trainer_config(inputs, work, args)
        if inputs == "image":  # generated beforehand, as real CelebA arrives
            with open(config_path) as f:
                data_dir = yaml.safe_load(f)["data"]["data_dir"]
            subprocess.run([sys.executable, "-m", "fairgate.cli", "prepare-embedded",
                            "--data-dir", data_dir, "--num-examples", str(args.faces)],
                           check=True, capture_output=True)
        run = profiled_run.run(config_path, work, code=args.code)
        components = run.components()
        if "Trainer" not in components or not _trainer_steps(work):
            raise SystemExit(f"the {inputs} run did not train (exit code "
                             f"{run.exit_code}); its output:\n{run.output[-3000:]}")
        done = subprocess.run([sys.executable, os.path.join(HERE, "benchmarks",
                                                            "train_floor.py"),
                               "--config", config_path], check=True,
                              capture_output=True, text=True)
        fit = json.loads(done.stdout.strip().splitlines()[-1])
        steps = _trainer_steps(work)
        if steps != fit["steps"]:
            raise SystemExit(f"the fit ran {fit['steps']} steps, the Trainer {steps}")
        trainer_s = components["Trainer"]["seconds"]
        ratio = round(trainer_s / fit["fit_seconds"], 2)
        measured = {"rows" if inputs == "tabular" else "faces":
                    args.tabular_rows if inputs == "tabular" else args.faces,
                    "train_examples": fit["train_examples"], "steps": steps,
                    "batch_size": fit["batch_size"], "model": fit["model"],
                    "parameters": fit["parameters"],
                    "trainer_seconds": trainer_s, "fit_seconds": fit["fit_seconds"],
                    "ratio": ratio, "target_ratio": TRAINER_TARGET_RATIO,
                    "target_met": ratio <= TRAINER_TARGET_RATIO,
                    "fit_floor": {k: fit[k] for k in ("read_seconds", "build_seconds",
                                                      "final_loss", "feed",
                                                      "fit_seconds_by_repeat")},
                    "run_exit_code": run.exit_code, "verdict": run.verdicts()}
        measured["missed"] = [] if measured["target_met"] else [{
            "target": "ratio", "limit": TRAINER_TARGET_RATIO, "value": ratio,
            "component": "Trainer", "seconds": trainer_s,
            "profile": run.profile_of("Trainer")}]
        return measured
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--eager-steps", type=int, default=50)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--examples", type=int, default=4096)
    parser.add_argument("--step-loop", action=argparse.BooleanOptionalAction,
                        default=True, help="measure the step loop (--no-step-loop: "
                        "the Trainer components only)")
    parser.add_argument("--trainer-inputs", default="image,tabular",
                        help="comma-separated: image, tabular (empty: none)")
    parser.add_argument("--faces", type=int, default=20_000)
    parser.add_argument("--tabular-rows", type=int, default=25_000)
    parser.add_argument("--data-dir", default=None,
                        help="TFDS data_dir holding (or to receive) the faces")
    parser.add_argument("--code", default=None,
                        help="the Trainer components run this checkout's fairgate "
                             "(e.g. a worktree of the code before a change); the fit "
                             "floor stays this checkout's")
    args = parser.parse_args()
    result = {"benchmark": "train_throughput", "date": time.strftime("%Y-%m-%d"),
              "cores": os.cpu_count(), "code": profiled_run.commit(args.code or HERE)}
    if args.step_loop:
        result.update(_step_loop(args))
    inputs = [i for i in args.trainer_inputs.split(",") if i]
    unknown = set(inputs) - {"image", "tabular"}
    if unknown:
        parser.error(f"--trainer-inputs: unknown {sorted(unknown)} (image, tabular)")
    if inputs:
        result["trainer_component"] = {i: trainer_component(i, args) for i in inputs}
        result["trainer_component_targets_met"] = all(
            r["target_met"] for r in result["trainer_component"].values())
    print(json.dumps(result, indent=2))


def _step_loop(args):
    data = _data(args.examples)
    batches = _batches(data, args.batch_size)
    b, n = args.batch_size, args.steps
    fit_s = _time_fit(data, b, n)
    tfco_s = _time_steps(_constrained(), batches, n)
    jit_s = _time_steps(_constrained(jit_compile=True), batches, n)
    eager_s = _time_steps(_constrained(eager=True), batches, args.eager_steps, warmup=3)
    rate = lambda seconds, steps: round(b * steps / seconds, 1)  # noqa: E731
    return {
        "batch_size": b,
        "steps": n,
        "examples_per_s": {
            "model_fit_unconstrained": rate(fit_s, n),
            "tfco_compiled": rate(tfco_s, n),
            "tfco_compiled_jit": rate(jit_s, n),
            "tfco_eager_tutorial_style": rate(eager_s, args.eager_steps),
        },
        "ratio_tfco_compiled_to_fit": round(fit_s / tfco_s, 3),
        "ratio_tfco_jit_to_fit": round(fit_s / jit_s, 3),
        "ratio_tfco_compiled_to_eager": round((eager_s / args.eager_steps) / (tfco_s / n), 1),
        "target_ratio": 0.9,
    }


if __name__ == "__main__":
    main()
