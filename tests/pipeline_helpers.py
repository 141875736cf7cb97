"""Runs a real pipeline from a config dict in a temporary folder, and builds a
folder once per test session for every test file and xdist worker that needs it."""
import fcntl
import json
import os
import re
import shutil

from fairgate import artifacts, config as config_lib, errors


# A line a C++ library wrote itself (absl/glog format "I0000 00:00:..." or
# "W1125 17:40:..."), or XLA's and absl's start-up notices.
NATIVE_LOG_LINE = re.compile(r"^[IWEF]\d{4} \d\d:\d\d:\d\d|XLA service|"
                             r"absl::InitializeLog", re.M)


def make_config(tmp_path, **data):
    return config_lib.from_dict({
        "name": "test",
        "data": data,
        "pipeline_root": os.path.join(str(tmp_path), "root"),
        "metadata_path": os.path.join(str(tmp_path), "metadata.sqlite"),
        "push_destination": os.path.join(str(tmp_path), "serving"),
        "report_dir": os.path.join(str(tmp_path), "report"),
    }, origin=os.path.join(str(tmp_path), "config.yaml"))


def run(config, enable_cache=False):
    from pipeline import runners
    runners.run(config, "local", enable_cache=enable_cache)


def outputs(config):
    """{component: {output: uri}} of what the run published."""
    return artifacts.latest_outputs(config.resolved_metadata_path,
                                    config.resolved_pipeline_root)


def split_examples(examples_uri, split="test"):
    """The serialized tf.Examples of one split of an ExampleGen output."""
    import glob
    import tensorflow as tf
    files = sorted(glob.glob(os.path.join(examples_uri, f"Split-{split}", "*.gz")))
    return [r.numpy() for r in tf.data.TFRecordDataset(files, compression_type="GZIP")]


def read_examples(examples_uri, split="test"):
    """The tf.Examples of one split of an ExampleGen output, parsed."""
    import tensorflow as tf
    return [tf.train.Example.FromString(s) for s in split_examples(examples_uri, split)]


def report(config) -> dict:
    """The report.json a run left in the config's report_dir."""
    from fairgate.report import REPORT_JSON  # deferred: the report package loads TFMA
    with open(os.path.join(config.resolved_report_dir, REPORT_JSON)) as f:
        return json.load(f)


def run_keeping_progress(config, path):
    """run(config), writing the progress lines it logged to `path` (one a line):
    a shared run's lines, for the tests that read the folder later."""
    import logging
    from fairgate import progress

    class Keep(logging.Handler):
        def __init__(self):
            super().__init__(logging.INFO)
            self.lines = []

        def emit(self, record):
            self.lines.append(record.getMessage())

    keep = Keep()
    progress.logger.addHandler(keep)
    try:
        run(config)
    finally:
        progress.logger.removeHandler(keep)
    with open(path, "w") as f:
        f.write("".join(line + "\n" for line in keep.lines))


def error_chain(error: BaseException) -> str:
    """All messages of an exception and its causes (Beam and TFX wrap errors)."""
    return "\n".join(errors.chain(error))


def artifact_record(config, uri):
    """The ML Metadata record of the artifact at `uri` (properties as published)."""
    from ml_metadata import metadata_store
    from ml_metadata.proto import metadata_store_pb2
    connection = metadata_store_pb2.ConnectionConfig()
    connection.sqlite.filename_uri = config.resolved_metadata_path
    connection.sqlite.connection_mode = \
        metadata_store_pb2.SqliteMetadataSourceConfig.READONLY
    [record] = metadata_store.MetadataStore(connection).get_artifacts_by_uri(uri)
    return record


BUILT = ".built"  # written last: a folder without it is a build that died


def built_once(tmp_path_factory, name, build):
    """The folder `name`, filled by `build(folder)` once per test session.

    Under pytest-xdist a session fixture runs once per worker; this folder lives in
    the workers' common base temporary folder and an exclusive lock makes a second
    worker wait for the first build instead of repeating it (run alone, the folder
    is simply the session's). Whoever uses the folder must only read it: a test
    that runs again on a shared pipeline (new gates, a push) needs its own copy.
    """
    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        base = base.parent  # .../pytest-N/popen-gwK -> .../pytest-N, one per session
    shared = base / "shared"
    shared.mkdir(exist_ok=True)
    folder = shared / name
    with open(shared / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        if not (folder / BUILT).exists():
            if folder.exists():
                shutil.rmtree(folder)  # a build that failed half way
            folder.mkdir()
            build(folder)
            (folder / BUILT).write_text("")
    return folder
