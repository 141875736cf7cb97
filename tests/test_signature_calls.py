"""The Evaluator's scope around TFMA: a failed binding no longer prints the batch."""
import numpy as np
import tensorflow as tf

from components.evaluator import executor, signature_calls


def test_a_batch_of_examples_is_printed_summarised_in_the_scope():
    batch = tf.constant([b"x" * 2000] * 1000)  # as TFMA hands a signature
    assert len(repr(batch)) > 1_000_000  # every element, outside the scope
    with signature_calls.summarised_arrays():
        assert len(repr(batch)) < 20_000
    assert len(repr(batch)) > 1_000_000  # restored


def test_the_evaluator_runs_tfma_in_the_scope(monkeypatch):
    seen = []
    monkeypatch.setattr(executor.tfx_evaluator.Executor, "Do",
                        lambda self, *a: seen.append(np.get_printoptions()["threshold"]))
    monkeypatch.setattr(executor.score_evaluation, "write_baseline_record",
                        lambda *a: None)
    monkeypatch.setattr(executor.artifact_utils, "get_single_uri", lambda a: "")
    executor.BaselineAwareEvaluatorExecutor().Do({}, {"evaluation": []}, {})
    assert seen and seen[0] < 1000
    assert np.get_printoptions()["threshold"] == 1000
