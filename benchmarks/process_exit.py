"""How long a process that imported what a fairgate run imports takes to end:
Python's own exit (the modules' teardown) against fairgate.process_exit.exit_now.
Prints JSON.

Each trial is a fresh interpreter that imports `pipeline.runners` (TensorFlow,
TFX, TFMA, TFDV, Beam), optionally runs one small pipeline on a generated CSV
(`--run`), then exits one way or the other; the two ways alternate. Reported:
wall seconds from the end of the work to the end of the process, as the parent
sees it (median and all trials).

  .venv/bin/python benchmarks/process_exit.py --repeats 3 [--run]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

CHILD = r"""
import os, sys, time
sys.path.insert(0, {here!r})
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
import pipeline.runners
if {run!r}:
    from tests.tabular import write_csv
    from tests import pipeline_helpers as helpers
    folder = {folder!r}
    write_csv(os.path.join(folder, "csv", "data.csv"), rows=600, label="approved",
              group="region")
    config = helpers.make_config(folder, source="csv",
                                 input_base=os.path.join(folder, "csv"),
                                 label="approved", group="region")
    config.evaluation.groups = ["north", "south"]
    config.trainer.constraints = {{"constraints": [
        {{"rate": "false_positive_rate", "group": "south", "upper_bound": 0.2}}]}}
    config.trainer.train_steps = 50
    config.trainer.snapshot_every = 25
    helpers.run(config)
with open({stamp!r}, "w") as f:
    f.write(repr(time.time()))
if {way!r} == "exit_now":
    from fairgate import process_exit
    process_exit.exit_now(0)
"""


def trial(way: str, run: bool) -> float:
    with tempfile.TemporaryDirectory(prefix="fairgate-exit-") as folder:
        stamp = os.path.join(folder, "done")
        code = CHILD.format(here=HERE, run=run, folder=folder, stamp=stamp, way=way)
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
        subprocess.run([sys.executable, "-W", "ignore", "-c", code], check=True,
                       env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        ended = time.time()
        with open(stamp) as f:
            return ended - float(f.read())


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--run", action="store_true",
                        help="run a 600-row pipeline before exiting")
    options = parser.parse_args(argv)
    seconds = {"python_exit": [], "exit_now": []}
    for _ in range(options.repeats):
        for way in seconds:
            seconds[way].append(round(trial(way, options.run), 2))
    result = {"after": "a 600-row pipeline run" if options.run else "imports only",
              "repeats": options.repeats,
              **{f"{way}_seconds": {"median": statistics.median(s), "trials": s}
                 for way, s in seconds.items()}}
    result["ratio"] = round(result["exit_now_seconds"]["median"]
                            / result["python_exit_seconds"]["median"], 3)
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
