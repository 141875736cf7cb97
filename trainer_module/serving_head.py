"""What the exported signatures put on top of the model's logit.

    margin        = logit - threshold[group]        (0 without group thresholds)
    probabilities = sigmoid(scale * margin)          (scale > 0, trainer_module/calibration.py)

and the decision at 0.5 is exactly `logit > threshold[group]`: where float32
rounding would put sigmoid of a tiny margin on 0.5 itself, the probability is
nudged to the next float above (positive decision) or clamped to 0.5 (negative),
so `probabilities > 0.5` equals `trainer_module.group_thresholds.decide` on
every example. The outputs also hold `logits` (the model's raw logit).

With group thresholds the signatures need the group: `serving_default` parses it
from the tf.Example (required: an example without it is an error, not a silent
default), `serving_image_bytes` takes it as a second input `group`. A group
value without a threshold (absent from the eval split the thresholds were
chosen on, even if train held it) gets `default_threshold`
(0.0, the unconstrained model's own decision) and the model logs a warning
naming the value (tf.print to stderr, once per batch holding one).
"""
from __future__ import annotations

import dataclasses
import sys
from typing import Any, Dict, Optional

import numpy as np
import tensorflow as tf

from fairgate.metrics.groups import group_text, group_value
from trainer_module.group_thresholds import DEFAULT_THRESHOLD

_HALF_UP = float(np.nextafter(np.float32(0.5), np.float32(1.0)))


@dataclasses.dataclass
class ServingHead:
    scale: float = 1.0
    # {group value: threshold}; None: one threshold, 0.0, for everyone
    thresholds: Optional[Dict[Any, float]] = None
    group_key: str = ""
    group_dtype: Any = tf.int64  # tf.int64 or tf.string
    default_threshold: float = DEFAULT_THRESHOLD  # one source: group_thresholds

    @property
    def needs_group(self) -> bool:
        return self.thresholds is not None

    def group_spec(self) -> Dict[str, tf.io.FixedLenFeature]:
        """The group feature to parse from serialized tf.Examples (no default)."""
        if not self.needs_group:
            return {}
        return {self.group_key: tf.io.FixedLenFeature([1], self.group_dtype)}

    def group_signature(self) -> tf.TensorSpec:
        return tf.TensorSpec([None], self.group_dtype, name="group")

    def _threshold_of(self, groups: tf.Tensor) -> tf.Tensor:
        groups = tf.reshape(groups, [-1])
        threshold = tf.fill(tf.shape(groups), tf.constant(self.default_threshold,
                                                          tf.float32))
        known = tf.zeros(tf.shape(groups), tf.bool)
        for value, t in sorted(self.thresholds.items(), key=lambda kv: group_text(kv[0])):
            # JSON turns integer keys into text: int() reads them back.
            key = group_text(value) if self.group_dtype == tf.string else \
                int(group_value(value))
            match = tf.equal(groups, tf.constant(key, self.group_dtype))
            threshold = tf.where(match, tf.constant(np.float32(t)), threshold)
            known = tf.logical_or(known, match)
        unseen = tf.boolean_mask(groups, tf.logical_not(known))

        def warn():
            tf.print("fairgate: group value(s) without a threshold (not in the "
                     "eval split the thresholds were chosen on), using the "
                     "default threshold",
                     self.default_threshold, "for", unseen, output_stream=sys.stderr)
            return tf.constant(0)

        with tf.control_dependencies([tf.cond(tf.size(unseen) > 0, warn,
                                              lambda: tf.constant(0))]):
            return tf.identity(threshold)

    def outputs(self, logits: tf.Tensor, groups: Optional[tf.Tensor] = None
                ) -> Dict[str, tf.Tensor]:
        logits = tf.reshape(tf.cast(logits, tf.float32), [-1, 1])
        if self.needs_group:
            threshold = tf.reshape(self._threshold_of(groups), [-1, 1])
        else:
            threshold = tf.zeros_like(logits)
        positive = logits > threshold
        p = tf.sigmoid(tf.constant(np.float32(self.scale)) * (logits - threshold))
        p = tf.where(positive, tf.maximum(p, _HALF_UP), tf.minimum(p, 0.5))
        return {"probabilities": p, "logits": logits}
