"""fairgate: train under fairness constraints, push only what is fair by measurement."""
import os as _os

# TFCO and TFMA need tf-keras as tf.keras; this must be set before TensorFlow is
# first imported, so every fairgate entry point imports this package first.
_os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")


def __getattr__(name):
    # A custom artifact type is found by its TYPE_NAME: inside a Kubeflow pod, TFX's
    # KFP v2 entrypoint imports the class `fairgate.FairnessReport`
    # (kubeflow_v2_entrypoint_utils._retrieve_class_path), and so for
    # `fairgate.TrainSplitFacts`. Imported lazily so that
    # `import fairgate` stays light.
    if name == "FairnessReport":
        from components.fairness_report.component import FairnessReport
        return FairnessReport
    if name == "TrainSplitFacts":
        from components.data_gate.component import TrainSplitFacts
        return TrainSplitFacts
    raise AttributeError(f"module 'fairgate' has no attribute {name!r}")
