"""CandidateModel: the candidate of a run that trains none (the `candidate:` section).

TFX's Importer registers the user's folder as a Model artifact, but an imported
artifact has no `tfx_version`, so TFX's Evaluator and Pusher look for the model
in `<uri>/serving_model_dir`, which the folder does not have. This step copies
the imported files into a Model artifact in the layout every TFX component
reads (`Format-Serving/`), and writes `candidate.json`: the mode, where the
files came from, their content fingerprint, the score key, and that the
candidate was not trained here. In predictions mode without an artifact there
are no files: the artifact holds only the record (the Evaluator reads the
scores from the examples; GatedPusher has nothing to push).

Its output depends on the files behind the source path, not on the imported
artifact's id (an Importer reuses the artifact of a path it saw before), so the
runners never take it from the cache (pipeline.NEVER_CACHED).
"""
import json
import os

from tfx.dsl.component.experimental.annotations import (InputArtifact,
                                                         OutputArtifact, Parameter)
from tfx.dsl.component.experimental.decorators import component
from tfx.types import standard_artifacts


@component
def CandidateModel(  # pylint: disable=invalid-name
        model: OutputArtifact[standard_artifacts.Model],
        mode: Parameter[str],
        score: Parameter[str],
        source: Parameter[str] = "",
        baseline_scores: Parameter[str] = "",
        files: InputArtifact[standard_artifacts.Model] = None,
) -> None:
    """`mode`: saved_model or predictions. `score`: the SavedModel's score output
    or the score column. `source`: the configured path (candidate.model or
    candidate.artifact; empty: no files). `baseline_scores`: the column of the
    serving model's scores (predictions mode). `files`: the Importer's artifact."""
    import tensorflow as tf  # heavy imports at run time
    from tfx.utils import io_utils, path_utils
    from fairgate import progress
    from fairgate.candidate import RECORD
    from fairgate.release.serving_versions import fingerprint

    record = {"mode": mode, "trained_here": False, "source": source,
              "score": score, "baseline_scores": baseline_scores,
              "fingerprint": "", "files": files is not None}
    if files is not None:
        target = path_utils.serving_model_path(
            model.uri, path_utils.is_old_model_artifact(model))
        io_utils.copy_dir(files.uri, target)
        record["fingerprint"] = fingerprint(target)
        progress.logger.info("CandidateModel: %s (content fingerprint %s), not "
                             "trained here.", source, record["fingerprint"][:12])
    tf.io.gfile.makedirs(model.uri)
    with tf.io.gfile.GFile(os.path.join(model.uri, RECORD), "w") as f:
        json.dump(record, f, indent=2)
    model.set_string_custom_property("candidate_source", source)
    model.set_string_custom_property("candidate_fingerprint", record["fingerprint"])
