"""The built-in model against a team's model module (trainer.model: {module_file,
...}), one local run each, on the embedded default and on a generated tabular
dataset (tests/tabular.py's biased rows): accuracy and constrained rates on the
test split (with their sample sizes, from report.json) and wall time.

    flock /work/heavy.lock python benchmarks/model_module_comparison.py \
        --out benchmarks/results/model_module_comparison.json
"""
import argparse
import json
import os
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from fairgate import config as config_lib  # noqa: E402
from tests.tabular import write_biased_csv  # noqa: E402

TABULAR_MODULE = os.path.join(REPO, "configs", "models", "team_model.py")
IMAGE_MODULE = os.path.join(REPO, "benchmarks", "models", "image_cnn.py")


def _run(work, name, data, trainer, groups):
    from pipeline import runners
    raw = {"name": name, "data": data, "trainer": trainer,
           "evaluation": {"groups": groups},
           "pipeline_root": os.path.join(work, name, "root"),
           "metadata_path": os.path.join(work, name, "metadata.sqlite"),
           "push_destination": os.path.join(work, name, "serving"),
           "report_dir": os.path.join(work, name, "report")}
    config = config_lib.from_dict(raw, origin=os.path.join(work, "benchmark.yaml"))
    start = time.time()
    runners.run(config, "local", enable_cache=False)
    wall = time.time() - start
    with open(os.path.join(config.resolved_report_dir, "report.json")) as f:
        report = json.load(f)
    figures = {"wall_s": round(wall, 1), "model": report.get("model"),
               "blessed": report["verdict"]["blessed"]}
    for label, model in report["models"].items():
        figures[label] = {
            slice_: {k: at["0.50"][k] for k in ("accuracy", "false_positive_rate",
                                                "false_negative_rate", "examples",
                                                "negatives", "positives")
                     if k in at.get("0.50", {})}
            for slice_, at in model["rates"].items()}
    return figures


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True)
    parser.add_argument("--embedded_examples", type=int, default=20_000)
    parser.add_argument("--tabular_rows", type=int, default=4000)
    parser.add_argument("--train_steps", type=int, default=0,
                        help="0: the default epoch budget")
    parser.add_argument("--sources", default="embedded,tabular",
                        help="comma-separated: embedded, tabular")
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix="model_module_")
    steps = {"train_steps": args.train_steps} if args.train_steps else {}
    results = {"args": vars(args)}
    embedded = {"num_examples": args.embedded_examples,
                "data_dir": os.path.join(work, "tfds")}
    sources = set(args.sources.split(","))
    for label, model in (("builtin", "mlp"),
                         ("module", {"module_file": IMAGE_MODULE})):
        if "embedded" not in sources:
            break
        results[f"embedded_{label}"] = _run(work, f"embedded-{label}", embedded,
                                            {"model": model, **steps}, [0, 1])
        print(json.dumps(results[f"embedded_{label}"]), flush=True)
    write_biased_csv(os.path.join(work, "csv", "data.csv"), args.tabular_rows, seed=0)
    tabular = {"source": "csv", "input_base": os.path.join(work, "csv"),
               "label": "approved", "group": "region"}
    trainer = {"constraints": {"constraints": [
        {"gap": "false_positive_rate", "groups": ["north", "south"], "max_gap": 0.05}]},
        "train_steps": args.train_steps or 2000, "learning_rate": 0.003,
        "constraint_learning_rate": 0.005}
    for label, model in (("builtin", "mlp"),
                         ("module", {"module_file": TABULAR_MODULE})):
        if "tabular" not in sources:
            break
        results[f"tabular_{label}"] = _run(work, f"tabular-{label}", tabular,
                                           {**trainer, "model": model},
                                           ["north", "south"])
        print(json.dumps(results[f"tabular_{label}"]), flush=True)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
