"""Finds the artifacts a run produced, from ML Metadata (only published ones)."""
from __future__ import annotations

import os
from typing import Dict

from fairgate.config import resolve_path
from ml_metadata import metadata_store
from ml_metadata.proto import metadata_store_pb2


def latest_outputs(metadata_path: str, pipeline_root: str) -> Dict[str, Dict[str, str]]:
    """{component: {output: uri}} of the newest LIVE artifact of each output."""
    if not os.path.exists(metadata_path):
        return {}
    connection = metadata_store_pb2.ConnectionConfig()
    connection.sqlite.filename_uri = metadata_path
    connection.sqlite.connection_mode = metadata_store_pb2.SqliteMetadataSourceConfig.READONLY
    store = metadata_store.MetadataStore(connection)
    newest: Dict[str, Dict[str, tuple]] = {}
    root = resolve_path(pipeline_root)
    prefix = root.rstrip("/") + "/"
    for artifact in store.get_artifacts():
        if artifact.state != metadata_store_pb2.Artifact.LIVE or \
                not artifact.uri.startswith(prefix):
            continue
        rel = artifact.uri[len(prefix):].split("/")
        if len(rel) < 3:
            continue
        component, output = rel[0], rel[1]
        seen = newest.setdefault(component, {}).get(output)
        if seen is None or artifact.id > seen[0]:
            newest[component][output] = (artifact.id, artifact.uri)
    return {c: {o: uri for o, (_, uri) in outs.items()} for c, outs in newest.items()}
