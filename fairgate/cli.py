"""The `fairgate` command: run the pipeline, print the last verdict, compile for
Kubeflow, prepare the embedded dataset, print the config file's JSON Schema or
its reference.

Exit codes: 0 the model was pushed (or is already in serving; or blessed scores
without an artifact, which have nothing to push); 3 the run finished
but the model was not blessed, so nothing was pushed; 2 bad input or config,
nothing ran; 1 a component failed.
"""
from __future__ import annotations

import os

# Before anything imports TensorFlow: TFCO and TFMA need tf-keras (Keras 2) as tf.keras.
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
# 3: TF's C++ start-up chatter (CUDA plugin registration on a CPU machine) stays
# out of the terminal; Python errors still reach it and the run log.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import argparse  # noqa: E402
import logging  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402

from fairgate import progress  # noqa: E402  (no TensorFlow)
from fairgate.config import is_uri  # noqa: E402  (no TensorFlow)

# google-api-core warns about Python 3.10 at import; TFX 1.16 requires 3.10.
warnings.filterwarnings("ignore", category=FutureWarning)
# TFMA divides by zero for a threshold no example crosses (the value is NaN, as it
# should be); the warning says nothing a user can act on.
warnings.filterwarnings("ignore", category=RuntimeWarning,
                        module="tensorflow_model_analysis")

EXIT_PUSHED, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_NOT_PUSHED = 0, 1, 2, 3


class _ProgressFilter(logging.Filter):
    """Passes progress lines only, chosen by their logger (fairgate.progress.is_progress)."""

    def filter(self, record):
        return progress.is_progress(record)


def _divert_native_stderr(log_file: str) -> None:
    """C++ libraries (XLA, absl, ml-metadata) write to file descriptor 2 directly,
    past Python's logging and TF_CPP_MIN_LOG_LEVEL. Point descriptor 2 at the run
    log and keep Python's `sys.stderr` on the terminal: the terminal gets
    fairgate's lines only, the log gets everything."""
    try:
        sys.stderr.flush()
        terminal = os.dup(2)
    except (OSError, ValueError):  # no real descriptor 2 (embedded interpreters)
        return
    log_fd = os.open(log_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(log_fd, 2)
    os.close(log_fd)
    sys.stderr = os.fdopen(terminal, "w", buffering=1)


def _setup_logging(log_file: str) -> None:
    """Full logs go to the run's log file; the terminal gets per-component progress."""
    os.makedirs(os.path.dirname(log_file), exist_ok=True)
    _divert_native_stderr(log_file)
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    root = logging.getLogger()
    root.setLevel(logging.INFO)
    for handler in list(root.handlers):
        root.removeHandler(handler)
    to_file = logging.FileHandler(log_file)
    to_file.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    root.addHandler(to_file)
    to_terminal = logging.StreamHandler(sys.stderr)
    to_terminal.addFilter(_ProgressFilter())
    to_terminal.setFormatter(logging.Formatter("[fairgate %(asctime)s] %(message)s",
                                               "%H:%M:%S"))
    root.addHandler(to_terminal)
    import absl.logging
    absl.logging.get_absl_handler().setLevel(logging.CRITICAL)  # no duplicate output
    absl.logging.use_python_logging(quiet=True)
    # absl's verbosity defaults to WARNING; INFO passed only because the 'absl'
    # logger's own level was unset. Code that saves and restores the verbosity
    # (TensorFlow's SavedModel export does) then pins it at WARNING, and every
    # component's "is running / finished" line vanished after the first Trainer.
    absl.logging.set_verbosity(absl.logging.INFO)
    # TensorFlow's Python logger prints to stderr itself; send it to the log file.
    import tensorflow as tf
    tf_logger = tf.get_logger()
    tf_logger.handlers.clear()
    tf_logger.propagate = True


def _load_config(path):
    """The checked config, or None after printing why it is invalid."""
    from fairgate import config as config_lib
    try:
        return config_lib.load(path)
    except config_lib.ConfigError as error:
        print(f"fairgate: {error}", file=sys.stderr)
        return None


def _run(args) -> int:
    from fairgate import errors
    config = _load_config(args.config)
    if config is None:
        return EXIT_BAD_INPUT
    log_file = os.path.abspath(os.path.join(config.work_dir, "run.log"))
    _setup_logging(log_file)
    print(f"fairgate: running '{config.name}' ({config.data.source}) with the "
          f"{args.runner} runner; full log: {log_file}", file=sys.stderr)
    from fairgate.config import ConfigError
    from fairgate.data import preflight
    from fairgate.data.celeba_layout import DatasetNotFoundError
    from pipeline import kfp_spec
    start = time.time()
    try:
        # Bad input is refused before TFX's seconds of imports.
        preflight.check_inputs(config)
        from pipeline import runners
        outputs = runners.run(config, args.runner, checked=True)
    except ConfigError as error:  # a key preflight judges (constraints, gates)
        print(f"fairgate: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except kfp_spec.SpecRefused as error:
        print(f"fairgate: the open-source Kubeflow Pipelines backend would refuse the "
              f"spec, nothing ran: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except (preflight.InputError, DatasetNotFoundError) as error:
        print(f"fairgate: bad input, nothing ran: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except Exception as error:  # a component failed; its own message says why
        print(f"fairgate: the run failed after {time.time() - start:.0f}s: "
              f"{errors.innermost(error)}\nfull log: {log_file}", file=sys.stderr)
        return EXIT_FAILED
    print(f"fairgate: run finished in {time.time() - start:.0f}s.")
    print("artifacts:")
    for component in sorted(outputs):
        for output, uri in sorted(outputs[component].items()):
            print(f"  {component}.{output}: {uri}")
    for component in ("Trainer", "BaselineTrainer"):
        model = outputs.get(component, {}).get("model")
        if model:
            print(f"{component}: {_selection_summary(model)}")
    report_uri = outputs.get("FairnessReportGen", {}).get("report")
    if not report_uri:
        print("fairgate: the run wrote no fairness report", file=sys.stderr)
        return EXIT_FAILED
    return _print_verdict(os.path.join(report_uri, "report.json"),
                          config.resolved_report_dir)


def _exists(path: str) -> bool:
    if not is_uri(path):
        return os.path.exists(path)
    import tensorflow as tf  # object storage; TensorFlow's import takes seconds
    return tf.io.gfile.exists(path)


def _read_json(path: str):
    import json
    if not is_uri(path):
        with open(path) as f:
            return json.load(f)
    import tensorflow as tf  # object storage; TensorFlow's import takes seconds
    with tf.io.gfile.GFile(path) as f:
        return json.load(f)


def _print_verdict(report_json: str, report_dir: str) -> int:
    report = _read_json(report_json)
    verdict = report["verdict"]
    if verdict["blessed"] and verdict["pushed"]:
        how = "pushed" if report.get("new_push", True) else "already in serving"
        print(f"VERDICT: BLESSED, {how}: {verdict['pushed_model_path']}")
    elif verdict["blessed"] and verdict.get("nothing_to_push"):
        print("VERDICT: BLESSED; nothing to push (scores without candidate.artifact)")
    elif verdict["blessed"]:
        print("VERDICT: BLESSED but not pushed")
    else:
        print("VERDICT: NOT BLESSED, not pushed. Why:")
        for reason in verdict["reasons"]:
            print(f"  - {reason}")
    measurement = report.get("side_effects_measurement") or {}
    if not measurement.get("blocks"):  # blocking ones are among the reasons
        for line in measurement.get("lines") or []:
            print(line)
    for item in (report.get("leakage") or {}).get("flagged") or []:
        print(f"warning: possible label leakage: feature '{item['feature']}' "
              f"({item['statistic']} {item['value']:.4f} >= {item['threshold']:g})")
    small = report.get("small_groups") or []
    if small:
        print("warning: groups too small to judge: " + "; ".join(
            f"{g['group']} ({g['test_examples']} test examples)" for g in small))
    print(f"report: {os.path.join(report_dir, 'report.html')} (and report.json)")
    released = verdict["pushed"] or (verdict["blessed"] and
                                     verdict.get("nothing_to_push"))
    return EXIT_PUSHED if released else EXIT_NOT_PUSHED


def _report(args) -> int:
    config = _load_config(args.config)
    if config is None:
        return EXIT_BAD_INPUT
    report_json = os.path.join(config.resolved_report_dir, "report.json")
    if not _exists(report_json):
        print(f"fairgate: no report at {report_json}: run `fairgate run` first",
              file=sys.stderr)
        return EXIT_BAD_INPUT
    return _print_verdict(report_json, config.resolved_report_dir)


def _selection_summary(model_uri: str) -> str:
    import json
    from fairgate import model_module
    try:
        with open(os.path.join(model_uri, model_module.MODEL_RECORD)) as f:
            model = model_module.summary(json.load(f)) + "; "
    except OSError:
        model = ""
    try:
        with open(os.path.join(model_uri, "candidates.json")) as f:
            record = json.load(f)
    except OSError:
        return model + "no candidates.json"
    chosen = record["candidates"][record["chosen_index"]]
    violations = ", ".join(f"{c} (violation {v:+.3f})"
                           for c, v in zip(record["constraints"], chosen["violations"]))
    return (f"{model}mode {record['mode']}, snapshot at step {chosen['step']} of "
            f"{record['candidates'][-1]['step']}, eval objective "
            f"{chosen['objective']:.3f}; {violations or 'no constraints'}")


def _schema(args) -> int:
    import json
    from fairgate import config as config_lib, config_reference
    if args.write and not args.markdown:
        print("fairgate schema: --write needs --markdown", file=sys.stderr)
        return EXIT_BAD_INPUT
    if not args.markdown:
        print(json.dumps(config_lib.json_schema(), indent=2))
    elif not args.write:
        print(config_reference.markdown(), end="")
    else:
        try:
            changed = config_reference.write(args.write)
        except (OSError, ValueError) as error:
            print(f"fairgate schema: {error}", file=sys.stderr)
            return EXIT_BAD_INPUT
        print(f"{args.write}: config reference "
              f"{'rewritten' if changed else 'already current'}")
    return 0


def _compile(args) -> int:
    from fairgate.config import ConfigError
    config = _load_config(args.config)
    if config is None:
        return EXIT_BAD_INPUT
    from pipeline import kfp_spec, kubeflow_runner
    try:
        path = kubeflow_runner.compile_spec(config, args.output, image=args.image)
    except ConfigError as error:
        print(f"fairgate: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except kfp_spec.SpecRefused as error:
        print(f"fairgate: not written: the open-source Kubeflow Pipelines backend "
              f"would refuse this spec: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    print(f"fairgate: wrote the Kubeflow Pipelines v2 spec to {path} (image "
          f"{args.image or config.kubeflow.image}); submit it as deploy/README.md shows")
    return 0


def _prepare(args) -> int:
    """Generates the embedded dataset: progress lines in the terminal, the full
    log (TFDS, native libraries) in DATA_DIR/prepare-embedded.log."""
    _setup_logging(os.path.join(os.path.abspath(args.data_dir), "prepare-embedded.log"))
    from fairgate.data import embedded_celeba
    builder = embedded_celeba.prepare(args.data_dir, args.num_examples, args.seed)
    print(builder.data_path)
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="fairgate", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="run the pipeline (default: embedded demo)")
    run.add_argument("--config", help="YAML run config (default: the embedded demo)")
    run.add_argument("--runner", choices=["local", "beam", "kfp-local"],
                     default="local",
                     help="local: LocalDagRunner; beam: BeamDagRunner (both in this "
                     "machine, ML Metadata in SQLite); kfp-local: compile the Kubeflow "
                     "Pipelines spec and execute it here as the open-source KFP "
                     "backend would (a proof of the spec, not an orchestrator)")
    run.set_defaults(func=_run)
    report = commands.add_parser("report", help="print the last verdict and the "
                                 "report's path (exit code as for run)")
    report.add_argument("--config", help="YAML run config (default: the embedded demo)")
    report.set_defaults(func=_report)
    schema = commands.add_parser("schema", help="print the run config's JSON Schema "
                                 "(for editors that validate YAML)")
    schema.add_argument("--markdown", action="store_true",
                        help="print the config reference instead: every key, its "
                        "type, default and meaning, as Markdown tables")
    schema.add_argument("--write", metavar="FILE",
                        help="with --markdown: replace the reference between the "
                        "markers in FILE (README.md)")
    schema.set_defaults(func=_schema)
    compile_ = commands.add_parser("compile", help="compile the pipeline for Kubeflow "
                                   "Pipelines (KFP v2 JSON)")
    compile_.add_argument("--runner", choices=["kubeflow"], default="kubeflow")
    compile_.add_argument("--config", help="YAML run config; pipeline_root and "
                          "push_destination must be URIs the cluster shares")
    compile_.add_argument("--output", default="pipeline.yaml",
                          help=".yaml: the PipelineSpec for open-source Kubeflow "
                          "Pipelines (kfp client); .json: the PipelineJob for Vertex AI "
                          "Pipelines")
    compile_.add_argument("--image", help="project image (default: kubeflow.image)")
    compile_.set_defaults(func=_compile)
    prep = commands.add_parser("prepare-embedded",
                               help="generate the embedded CelebA-format dataset")
    prep.add_argument("--data-dir", default=".fairgate/tensorflow_datasets")
    prep.add_argument("--num-examples", type=int, default=20_000)
    prep.add_argument("--seed", type=int, default=0)
    prep.set_defaults(func=_prepare)
    args = parser.parse_args(argv)
    return args.func(args)


def console(argv=None) -> None:
    """The `fairgate` command: main(), then the exit without the libraries' teardown
    (fairgate.process_exit). An exception takes Python's own way out."""
    from fairgate import process_exit
    process_exit.exit_now(main(argv))


if __name__ == "__main__":
    console()
