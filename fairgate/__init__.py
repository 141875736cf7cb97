"""fairgate: train under fairness constraints, push only what is fair by measurement."""
import os as _os

# TFCO and TFMA need tf-keras as tf.keras; this must be set before TensorFlow is
# first imported, so every fairgate entry point imports this package first.
_os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
