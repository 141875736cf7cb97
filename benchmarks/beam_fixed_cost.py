"""The fixed cost of StatisticsGen and the two Evaluators, and whether a set of
Beam args changes what they write. Prints JSON.

Re-runs the components of a finished run in this process from the run's ML
Metadata (the same input artifacts and execution properties, fresh output
folders), once per set of Beam args, interleaved `--repeats` times. Reports CPU
seconds per run (min and median: this machine's speed varies between runs, see
STACK_NOTES) and, for every set after the first, which output files differ from
the first set's: statistics compared as parsed protos, TFMA's record files as
sets of records, JSON files (eval_config.json) as data, everything else (the
blessing file) byte for byte. `--profile` adds one sampled run per component
(benchmarks/stack_sampler.py) split into Beam's phases: building the pipeline,
translating it for the runner, setting up and processing bundles, and loading the
model.

  .venv/bin/python benchmarks/beam_fixed_cost.py --metadata RUN/metadata.sqlite --profile

Default sets: the config's `beam_args`; the same with Beam's own signature
lookups, uncached (`--uncached NAME` names such sets; pipeline/beam_signatures);
and the same without `--no_pipeline_type_check` (Beam's construction-time type
checks on).
"""
from __future__ import annotations

import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import argparse  # noqa: E402
import collections  # noqa: E402
import copy  # noqa: E402
import filecmp  # noqa: E402
import json  # noqa: E402
import shutil  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from typing import Dict, List, Optional, Sequence  # noqa: E402

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "benchmarks"))

import stack_sampler  # noqa: E402

# The Beam components whose fixed cost this measures, by node id.
EXECUTORS = {
    "StatisticsGen": "tfx.components.statistics_gen.executor.Executor",
    "UnconstrainedEvaluator": "components.evaluator.executor.BaselineAwareEvaluatorExecutor",
    "Evaluator": "components.evaluator.executor.BaselineAwareEvaluatorExecutor",
}
TYPE_CHECK_OFF = "--no_pipeline_type_check"


def _store(path: str):
    from ml_metadata.metadata_store import metadata_store
    from ml_metadata.proto import metadata_store_pb2
    connection = metadata_store_pb2.ConnectionConfig()
    connection.sqlite.filename_uri = path
    connection.sqlite.connection_mode = \
        metadata_store_pb2.SqliteMetadataSourceConfig.READONLY
    return metadata_store.MetadataStore(connection)


def recorded_execution(metadata_path: str, node: str):
    """(input_dict, output_dict, exec_properties) of `node`'s last execution."""
    from ml_metadata.proto import metadata_store_pb2
    from tfx.types import artifact_utils
    store = _store(metadata_path)
    context = next((c for c in store.get_contexts_by_type("node")
                    if c.name.split(".")[-1] == node), None)
    if context is None:
        raise SystemExit(f"{metadata_path} holds no execution of {node}")
    execution = max(store.get_executions_by_context(context.id), key=lambda e: e.id)
    artifacts: Dict[int, Dict[str, list]] = {metadata_store_pb2.Event.INPUT: {},
                                             metadata_store_pb2.Event.OUTPUT: {}}
    for event in store.get_events_by_execution_ids([execution.id]):
        if event.type not in artifacts:
            continue
        artifact = store.get_artifacts_by_id([event.artifact_id])[0]
        kind = store.get_artifact_types_by_id([artifact.type_id])[0]
        artifacts[event.type].setdefault(event.path.steps[0].key, []).append(
            artifact_utils.deserialize_artifact(kind, artifact))
    # TFX records execution properties as custom properties ("__"-prefixed ones
    # are its own bookkeeping) or, in older stores, as properties.
    properties = {name: getattr(value, value.WhichOneof("value"))
                  for recorded in (execution.custom_properties, execution.properties)
                  for name, value in recorded.items() if not name.startswith("__")}
    return (artifacts[metadata_store_pb2.Event.INPUT],
            artifacts[metadata_store_pb2.Event.OUTPUT], properties)


def _fresh_outputs(outputs: Dict[str, list], root: str) -> Dict[str, list]:
    fresh = {}
    for key, recorded in outputs.items():
        fresh[key] = []
        for artifact in recorded:
            copied = copy.deepcopy(artifact)
            copied.uri = os.path.join(root, key)
            os.makedirs(copied.uri)
            fresh[key].append(copied)
    return fresh


def _signature_lookups(cached: bool) -> None:
    """Beam's signature lookups remembered (as every fairgate run has them) or
    Beam's own, uncached."""
    from apache_beam.transforms import core
    from pipeline import beam_signatures
    beam_signatures.install()
    if not cached:
        core.get_function_args_defaults = core.get_function_args_defaults.__wrapped__


def run_once(metadata_path: str, node: str, beam_args: List[str], work: str,
             sampler_interval: float = 0.0, changed_properties: Optional[dict] = None,
             cached_signatures: bool = True):
    """Runs `node`'s executor (with `changed_properties` over the recorded
    execution properties); returns (cpu seconds, output folder, profile or None)."""
    from tfx.dsl.components.base import base_beam_executor
    from tfx.utils import import_utils
    _signature_lookups(cached_signatures)
    inputs, outputs, properties = recorded_execution(metadata_path, node)
    properties = {**properties, **(changed_properties or {})}
    out = tempfile.mkdtemp(prefix=f"{node}-", dir=work)
    executor = import_utils.import_class_by_path(EXECUTORS[node])(
        base_beam_executor.BaseBeamExecutor.Context(
            beam_pipeline_args=list(beam_args), tmp_dir=os.path.join(out, ".tmp"),
            unique_id=node))
    sampler = stack_sampler.Sampler(sampler_interval).start() \
        if sampler_interval else None
    start = time.process_time()
    executor.Do(inputs, _fresh_outputs(outputs, out), properties)
    seconds = time.process_time() - start
    if sampler:
        sampler.stop()
    shutil.rmtree(os.path.join(out, ".tmp"), ignore_errors=True)
    return seconds, out, sampler.profile() if sampler else None


def phase_of(stack: List[str]) -> str:
    """Which part of a Beam component's work a sampled stack is in."""
    joined = "|".join(stack)
    if "load_model" in joined or "get_model_type" in joined:
        return "loading the model"
    if "fn_runner.py:run_stages" in joined:
        if "bundle_processor.py:__init__" in joined or "sdk_worker.py:get" in joined:
            return "setting up bundles (unpickling DoFns)"
        if "bundle_processor.py:process_bundle" in joined:
            return "processing bundles (the rows)"
        return "runner, between bundles"
    if "fn_runner.py:run_pipeline" in joined or "pipeline.py:run" in joined:
        return "translating the pipeline (pickling DoFns, fusing stages)"
    if "pipeline.py:apply" in joined:
        return "building the pipeline (transforms applied)"
    return "other"


def phases(profile: dict) -> Dict[str, float]:
    """Seconds per phase; the sampler's delays apart (stack_sampler.weighed)."""
    seconds: Dict[str, float] = collections.Counter()
    for _, stack, seen, delayed in stack_sampler.weighed(profile):
        seconds[phase_of([profile["functions"][i] for i in stack])] += seen
        if delayed:
            seconds[stack_sampler.DELAYED] += delayed
    return {name: round(s, 2) for name, s in seconds.most_common()}


def _records(path: str):
    import tensorflow as tf
    try:
        return sorted(bytes(r.numpy()) for r in tf.data.TFRecordDataset(path))
    except Exception:  # noqa: BLE001 - not a TFRecord file: compared byte for byte
        return None


def _statistics(path: str):
    from tensorflow_metadata.proto.v0 import statistics_pb2
    parsed = statistics_pb2.DatasetFeatureStatisticsList()
    with open(path, "rb") as f:
        parsed.ParseFromString(f.read())
    return parsed


def _json(path: str):
    with open(path) as f:
        return json.load(f)


def differing_files(first: str, second: str) -> List[str]:
    """Files of output folder `second` that differ from `first`'s (or exist in
    one only)."""
    def files(root):
        return {os.path.relpath(os.path.join(d, n), root): os.path.join(d, n)
                for d, _, names in os.walk(root) for n in names}
    a, b = files(first), files(second)
    differ = sorted(set(a) ^ set(b))
    for name in sorted(set(a) & set(b)):
        if filecmp.cmp(a[name], b[name], shallow=False):
            continue
        if name.endswith("FeatureStats.pb"):
            if _statistics(a[name]) == _statistics(b[name]):
                continue
        elif name.endswith(".json"):
            # eval_config.json holds a proto map (model_locations) whose JSON key
            # order varies between writes: equal as data is equal.
            if _json(a[name]) == _json(b[name]):
                continue
        else:
            records = _records(a[name])
            if records is not None and records == _records(b[name]):
                continue
        differ.append(name)
    return differ


def measure(metadata_path: str, sets: Dict[str, List[str]], nodes: List[str],
            repeats: int, profile: bool, uncached: Sequence[str] = ()) -> dict:
    work = tempfile.mkdtemp(prefix="fairgate-beam-fixed-")
    result = {"metadata": metadata_path, "beam_args": sets, "repeats": repeats,
              "uncached_signature_lookups": list(uncached), "components": {}}
    try:
        names = list(sets)
        for node in nodes:
            run_once(metadata_path, node, sets[names[0]], work)  # warm-up: not counted
            seconds, outputs = collections.defaultdict(list), {}
            for _ in range(repeats):
                for name in names:
                    cpu, out, _ = run_once(metadata_path, node, sets[name], work,
                                           cached_signatures=name not in uncached)
                    seconds[name].append(round(cpu, 2))
                    outputs.setdefault(name, out)
            entry = {name: {"cpu_seconds_min": min(s),
                            "cpu_seconds_median": statistics.median(s),
                            "cpu_seconds": s} for name, s in seconds.items()}
            for name in names[1:]:
                entry[name]["files_differing_from_" + names[0]] = \
                    differing_files(outputs[names[0]], outputs[name])
            if profile:
                for name in names:
                    _, _, sampled = run_once(metadata_path, node, sets[name], work,
                                             sampler_interval=0.005,
                                             cached_signatures=name not in uncached)
                    entry[name]["sampled_phases_seconds"] = phases(sampled)
            result["components"][node] = entry
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return result


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--metadata", required=True,
                        help="the ML Metadata SQLite file of a finished run")
    parser.add_argument("--nodes", nargs="+", default=list(EXECUTORS),
                        choices=list(EXECUTORS))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--profile", action="store_true",
                        help="add one sampled run per component and set of args")
    parser.add_argument("--args", action="append", default=[], metavar="NAME=ARGS",
                        help="a named set of Beam args, space-separated (repeatable; "
                             "the first is the reference)")
    parser.add_argument("--uncached", action="append", default=None, metavar="NAME",
                        help="a set (named by --args) run with Beam's own, uncached "
                             "signature lookups (repeatable)")
    options = parser.parse_args(argv)
    uncached = options.uncached or []
    if options.args:
        sets = {item.split("=", 1)[0]: item.split("=", 1)[1].split()
                for item in options.args}
    else:
        from fairgate.config import Config
        default = list(Config().beam_args)
        sets = {"default": default, "uncached_signatures": default,
                "type_checked": [a for a in default if a != TYPE_CHECK_OFF]}
        uncached = options.uncached or ["uncached_signatures"]
    unknown = sorted(set(uncached) - set(sets))
    if unknown:
        parser.error(f"--uncached names no set of --args: {', '.join(unknown)}")
    print(json.dumps(measure(options.metadata, sets, options.nodes, options.repeats,
                             options.profile, uncached), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
