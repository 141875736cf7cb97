"""Runs a real pipeline from a config dict in a temporary folder."""
import os
import re

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
