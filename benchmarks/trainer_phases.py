"""Where the constrained Trainer's time goes, per phase: run_fn on a finished
run's artifacts, in this process, each phase timed directly. Prints JSON.

The sampling profile of train_throughput.py over-weights frames that release the
GIL; this times the phases themselves: reading the eval split, the train rows
for the model contract, building the model, the compiled step, the train
batches, the training loop (its first call with the tracing, the steps, the
eval snapshots), choosing, post-processing and the export.

    .venv/bin/python benchmarks/trainer_phases.py --work DIR [--inputs tabular]
        [--tabular-rows 25000] [--data-dir TFDS_DIR] [--code CHECKOUT]

DIR keeps the run (`fairgate run` of train_throughput.py's config for the input
kind) between invocations: `--prepare` runs it, later invocations reuse its
artifacts, so code before and after a change (`--code`) is timed on the same
data, each in a fresh process.
"""
from __future__ import annotations

import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import argparse  # noqa: E402
import contextlib  # noqa: E402
import functools  # noqa: E402
import json  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import types  # noqa: E402

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "benchmarks"))


def _prepare(inputs, work, args):
    """The config of train_throughput.py for `inputs`, run once into `work`."""
    config_path = os.path.join(work, "config.yaml")
    if os.path.exists(os.path.join(work, "metadata.sqlite")):
        return config_path
    import train_throughput
    os.makedirs(work, exist_ok=True)
    train_throughput._trainer_config(inputs, work, args)
    if inputs == "image":
        import yaml
        with open(config_path) as f:
            data_dir = yaml.safe_load(f)["data"]["data_dir"]
        subprocess.run([sys.executable, "-m", "fairgate.cli", "prepare-embedded",
                        "--data-dir", data_dir, "--num-examples", str(args.faces)],
                       check=True, capture_output=True)
    done = subprocess.run([sys.executable, "-m", "fairgate.cli", "run", "--config",
                           config_path], capture_output=True, text=True, cwd=work)
    if done.returncode not in (0, 1):  # 1: NOT BLESSED, still a finished run
        raise SystemExit(f"the run failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return config_path


def _fn_args(config, out):
    import glob
    import profiled_run
    import train_floor
    from pipeline.pipeline import trainer_settings
    from tfx.components.trainer.fn_args_utils import DataAccessor
    outputs, ingest = profiled_run.finished_outputs(config, "DataValidationGate")
    examples = outputs[ingest]["examples"]
    schema_path = os.path.join(outputs["DataValidationGate"]["validated_schema"],
                               "schema.pbtxt")
    os.makedirs(os.path.join(out, "model", "Format-Serving"), exist_ok=True)
    assert glob.glob(os.path.join(examples, "Split-train", "*"))
    return types.SimpleNamespace(
        train_files=[os.path.join(examples, "Split-train", "*")],
        eval_files=[os.path.join(examples, "Split-eval", "*")],
        schema_path=schema_path,
        serving_model_dir=os.path.join(out, "model", "Format-Serving"),
        model_run_dir=os.path.join(out, "model_run"),
        train_steps=config.trainer.train_steps,
        custom_config=trainer_settings(config, "tfco"),
        data_accessor=DataAccessor(tf_dataset_factory=train_floor._factory,
                                   record_batch_factory=None,
                                   data_view_decode_fn=None))


class Phases:
    """Seconds per named phase, summed over calls."""

    def __init__(self):
        self.seconds, self.calls = {}, {}

    @contextlib.contextmanager
    def timing(self, name):
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - start
            self.calls[name] = self.calls.get(name, 0) + 1

    def wrap(self, module, attribute, name=None):
        """Times `module.attribute` (absent in some versions of the code: left)."""
        original = getattr(module, attribute, None)
        if original is None:
            return

        @functools.wraps(original)
        def timed(*a, **k):
            with self.timing(name or attribute):
                return original(*a, **k)
        setattr(module, attribute, timed)

    def result(self):
        return {name: {"seconds": round(s, 3), "calls": self.calls[name]}
                for name, s in self.seconds.items()}


def measure(fn_args, cprofile=None):
    """{run_fn_seconds, phases}: run_fn on `fn_args`, after importing it (what
    the Trainer imports beyond the pipeline's own modules)."""
    import importlib
    phases = Phases()
    with phases.timing("import trainer_module.run_fn"):
        run_fn = importlib.import_module("trainer_module.run_fn")
    from trainer_module import export, selection, training
    for attribute in ("_load_split", "_model_features", "train_arrays", "_build_model",
                      "train_steps", "_train_batches", "_post_process",
                      "_release_memory"):
        phases.wrap(run_fn, attribute)
    for attribute in ("constrained_step", "plain_step"):
        phases.wrap(training, attribute)
    phases.wrap(selection, "choose")
    phases.wrap(selection, "write_record")
    phases.wrap(export, "save", "export")
    loop = training.train_with_snapshots
    calls = {"n": 0}

    def first_or_other(function):
        """`function` timed, its first call (the tracing, the train cache's
        filling) apart from the others."""
        def timed(*a, **k):
            calls["n"] += 1
            name = "loop: first compiled call" if calls["n"] == 1 else \
                "loop: other compiled calls"
            with phases.timing(name):
                return function(*a, **k)
        return timed

    if hasattr(training, "steps_per_call"):  # several steps per compiled call
        per_call = training.steps_per_call
        training.steps_per_call = lambda step: first_or_other(per_call(step))

    def timed_loop(model, step, batches, num_steps, snapshot_every, evaluate, *a, **k):
        def timed_evaluate(current):
            with phases.timing("loop: eval snapshots (evaluate)"):
                return evaluate(current)
        if not hasattr(training, "steps_per_call"):  # one compiled call per batch
            step = first_or_other(step)
        with phases.timing("loop (train_with_snapshots)"):
            return loop(model, step, batches, num_steps, snapshot_every,
                        timed_evaluate, *a, **k)
    training.train_with_snapshots = timed_loop
    start = time.perf_counter()
    if cprofile:
        import cProfile
        cProfile.runctx("run_fn.run_fn(fn_args)", globals(), locals(), cprofile)
    else:
        run_fn.run_fn(fn_args)
    total = time.perf_counter() - start
    with open(os.path.join(os.path.dirname(fn_args.serving_model_dir),
                           "candidates.json")) as f:
        record = json.load(f)
    # What was trained, to compare code before and after a change exactly:
    # every snapshot's step, train loss, eval objective and violations (as
    # float64 reprs), and the chosen one.
    trained = {"chosen_step": record["chosen_step"],
               "candidates": [[c["step"], c["train_loss"], c["objective"],
                               c["violations"]] for c in record["candidates"]]}
    return {"run_fn_seconds": round(total, 3), "phases": phases.result(),
            "trained": trained, "trainer_module": os.path.dirname(training.__file__)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", required=True)
    parser.add_argument("--inputs", default="tabular", choices=["tabular", "image"])
    parser.add_argument("--faces", type=int, default=20_000)
    parser.add_argument("--tabular-rows", type=int, default=25_000)
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--code", default=None,
                        help="time this checkout's trainer_module (default: this one)")
    parser.add_argument("--cprofile", default=None,
                        help="also write cProfile's stats of run_fn here (its "
                             "overhead inflates the Python-heavy phases)")
    parser.add_argument("--prepare", action="store_true",
                        help="only run the pipeline into --work (then time in a "
                             "fresh process: this one has imported the trainer)")
    args = parser.parse_args()
    # The benchmarks this one borrows from put this checkout first on sys.path
    # when imported: import them before --code goes first.
    import profiled_run  # noqa: F401
    import train_floor  # noqa: F401
    if args.code:
        sys.path.insert(0, os.path.abspath(args.code))
    work = os.path.abspath(args.work)
    config_path = _prepare(args.inputs, work, args)
    if args.prepare:
        return
    from fairgate import config as config_lib
    config = config_lib.load(config_path)
    out = tempfile.mkdtemp(prefix="fairgate-phases-")
    try:
        result = measure(_fn_args(config, out), args.cprofile)
    finally:
        shutil.rmtree(out, ignore_errors=True)
    print(json.dumps({"benchmark": "trainer_phases", "date": time.strftime("%Y-%m-%d"),
                      "inputs": args.inputs, "steps": config.trainer.train_steps,
                      **result}, indent=2))


if __name__ == "__main__":
    main()
