"""The absolute-correlation regulariser of Beutel et al. 2019 ("Putting Fairness
Principles into Practice"): among negative examples, penalise the correlation
between the model's score and group membership, so that scores carry no group
information where errors are false positives."""
import tensorflow as tf

from trainer_module.constraints import group_mask


def absolute_correlation(logits, labels, groups, group_value) -> tf.Tensor:
    """|corr(score, group == group_value)| over the batch's negative examples."""
    negatives = tf.equal(labels, 0.0)
    scores = tf.boolean_mask(tf.sigmoid(logits), negatives)
    member = tf.cast(tf.boolean_mask(group_mask(groups, group_value), negatives),
                     tf.float32)
    scores -= tf.reduce_mean(scores)
    member -= tf.reduce_mean(member)
    covariance = tf.reduce_mean(scores * member)
    spread = tf.sqrt(tf.reduce_mean(scores ** 2) * tf.reduce_mean(member ** 2) + 1e-12)
    return tf.abs(covariance / spread)
