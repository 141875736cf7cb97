"""The compiled Kubeflow spec executed by `--runner kfp-local` next to TFX's
LocalDagRunner on the same config, in one run, as JSON.

Both run `fairgate run` (a subprocess, as a user would) on the embedded default at
a given size, each in a fresh pipeline root and push destination, on a dataset
generated beforehand (so neither pays for generation). kfp-local starts one
process per task, as a cluster starts one pod per task, so its extra cost is
mostly each task's interpreter start-up and imports.

  .venv/bin/python benchmarks/kfp_local_vs_local.py [--num-examples 20000]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time

import yaml

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FAIRGATE = os.path.join(os.path.dirname(sys.executable), "fairgate")


def _run(workdir: str, data_dir: str, num_examples: int, runner: str) -> dict:
    name = f"bench-{runner}"
    config = os.path.join(workdir, f"{name}.yaml")
    with open(config, "w") as f:
        yaml.safe_dump({"name": name, "data": {"num_examples": num_examples,
                                               "data_dir": data_dir},
                        "pipeline_root": os.path.join(workdir, name, "root"),
                        "push_destination": os.path.join(workdir, name, "serving"),
                        "report_dir": os.path.join(workdir, name, "report")}, f)
    start = time.time()
    done = subprocess.run([FAIRGATE, "run", "--runner", runner, "--config", config],
                          cwd=workdir, capture_output=True, text=True)
    seconds = time.time() - start
    verdict = next((l for l in done.stdout.splitlines() if l.startswith("VERDICT")), "")
    return {"seconds": round(seconds, 1), "exit_code": done.returncode,
            "verdict": verdict.split(":")[1].strip() if verdict else done.stderr[-500:]}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--num-examples", type=int, default=20_000)
    parser.add_argument("--work-dir", default="")
    args = parser.parse_args(argv)
    workdir = args.work_dir or tempfile.mkdtemp(prefix="kfp_vs_local_")
    os.makedirs(workdir, exist_ok=True)
    data_dir = os.path.join(workdir, "tfds")
    subprocess.run([FAIRGATE, "prepare-embedded", "--data-dir", data_dir,
                    "--num-examples", str(args.num_examples)], check=True,
                   capture_output=True, cwd=workdir)
    local = _run(workdir, data_dir, args.num_examples, "local")
    kfp_local = _run(workdir, data_dir, args.num_examples, "kfp-local")
    print(json.dumps({
        "benchmark": "kfp_local_vs_local", "num_examples": args.num_examples,
        "local": local, "kfp_local": kfp_local,
        "ratio": round(kfp_local["seconds"] / local["seconds"], 2),
        "machine": {"cores": os.cpu_count(), "python": platform.python_version()},
        "date": time.strftime("%Y-%m-%d"),
    }, indent=2))
    return 0 if local["exit_code"] == kfp_local["exit_code"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
