"""A model trained outside fairgate, as a team would bring one: plain tf-keras
fitted on numpy arrays, exported as a SavedModel whose `serving_default` takes
serialized tf.Examples and returns two outputs (`logit`, `probability`)."""
import csv
import os

import numpy as np

FEATURES = ("x1", "x2")


def write_split_csvs(folder, rows=240, seed=0):
    """train / eval / test CSVs (x1, x2, group, label): the label follows x1,
    and group 1's negatives sit closer to the boundary (a higher FPR)."""
    rng = np.random.default_rng(seed)
    os.makedirs(folder, exist_ok=True)
    for split in ("train", "eval", "test"):
        with open(os.path.join(folder, f"{split}.csv"), "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["x1", "x2", "group", "label"])
            for i in range(rows):
                group, label = i % 2, int(rng.random() < 0.5)
                x1 = (1.0 if label else -1.0) + (0.6 if group and not label else 0.0) \
                    + rng.normal(0, 0.7)
                writer.writerow([round(x1, 4), round(float(rng.normal()), 4), group, label])


def read_csv(path):
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    return {key: np.array([float(r[key]) for r in rows]) for key in rows[0]}


def serialized(columns):
    import tensorflow as tf
    out = []
    for i in range(len(columns["label"])):
        feature = {key: tf.train.Feature(float_list=tf.train.FloatList(
            value=[columns[key][i]])) for key in FEATURES}
        out.append(tf.train.Example(features=tf.train.Features(
            feature=feature)).SerializeToString())
    return out


def train_and_export(train_csv, export_dir, epochs=30, seed=0):
    """Fits a logistic regression in tf-keras and exports it; returns the path."""
    import tensorflow as tf
    import tf_keras as keras
    tf.random.set_seed(seed)
    columns = read_csv(train_csv)
    x = np.stack([columns[k] for k in FEATURES], axis=1).astype("float32")
    model = keras.Sequential([keras.layers.Dense(1, input_shape=(len(FEATURES),))])
    model.compile(optimizer=keras.optimizers.Adam(0.1),
                  loss=keras.losses.BinaryCrossentropy(from_logits=True))
    model.fit(x, columns["label"].astype("float32"), epochs=epochs, verbose=0)

    spec = {k: tf.io.FixedLenFeature([1], tf.float32) for k in FEATURES}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
    def serve(examples):
        parsed = tf.io.parse_example(examples, spec)
        logit = model(tf.concat([parsed[k] for k in FEATURES], axis=1))
        return {"logit": logit, "probability": tf.sigmoid(logit)}

    module = tf.Module()
    module.model, module.serve = model, serve
    tf.saved_model.save(module, export_dir, signatures={"serving_default": serve})
    return export_dir


def scores(export_dir, columns, key="probability"):
    """The exported model's scores on `columns` (read straight from the model)."""
    import tensorflow as tf
    signature = tf.saved_model.load(export_dir).signatures["serving_default"]
    return np.reshape(signature(examples=tf.constant(serialized(columns)))[key].numpy(), -1)


def rates(columns, probability, threshold=0.5):
    """Accuracy and each group's FPR at the threshold, computed directly."""
    decided = probability > threshold
    label = columns["label"] == 1
    out = {"accuracy": float(np.mean(decided == label)), "examples": len(label)}
    for group in (0, 1):
        negatives = (columns["group"] == group) & ~label
        out[f"fpr_{group}"] = float(np.mean(decided[negatives]))
        out[f"negatives_{group}"] = int(negatives.sum())
    return out
