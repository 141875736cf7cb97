"""In-memory experiments: TFCO trainer variants vs the group-threshold frontier.

Loads (or caches) the embedded dataset's splits as uint8 numpy, then trains the
variants named on the command line and prints one JSON line each.
"""
import os
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import sys, json, time, math, argparse
sys.path.insert(0, "/work/main")
import numpy as np
import tensorflow as tf

from trainer_module import constraints, models, training, selection, group_thresholds
from trainer_module.tfco_compat import BatchSlot, ConstrainedStep

SPEC_RAW = {"constraints": [{"rate": "false_positive_rate", "group": 0, "upper_bound": 0.05}]}


def load(n, data_dir, cache):
    path = f"{cache}/n{n}.npz"
    if os.path.exists(path):
        d = np.load(path)
        return {s: (d[f"{s}_x"], d[f"{s}_y"], d[f"{s}_g"]) for s in ("train", "validation", "test")}
    from fairgate.data.embedded_celeba import builder as b
    from fairgate.data.images import to_stored_pixels
    bld = b.prepare(data_dir, n, 0)
    out, arrays = {}, {}
    for s in ("train", "validation", "test"):
        ds = bld.as_dataset(split=s).batch(1024).prefetch(2)
        xs, ys, gs = [], [], []
        for batch in ds:
            xs.append(to_stored_pixels(batch["image"]).numpy().reshape(len(batch["image"]), -1))
            ys.append(batch["attributes"]["Smiling"].numpy().astype(np.float32))
            gs.append(batch["attributes"]["Young"].numpy().astype(np.int64))
        out[s] = (np.concatenate(xs), np.concatenate(ys), np.concatenate(gs))
        arrays.update({f"{s}_x": out[s][0], f"{s}_y": out[s][1], f"{s}_g": out[s][2]})
    os.makedirs(cache, exist_ok=True)
    np.savez(path, **arrays)
    return out


def summarize(decisions, y, g):
    acc = float((decisions == (y == 1)).mean())
    r = {"acc": round(acc, 4)}
    for grp in (0, 1):
        neg = (g == grp) & (y == 0)
        pos = (g == grp) & (y == 1)
        r[f"fpr{grp}"] = round(float(decisions[neg].mean()), 4)
        r[f"fnr{grp}"] = round(float((~decisions[pos]).mean()), 4)
    return r


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--n", type=int, default=202599)
    p.add_argument("--data-dir", default="/work/bench/tfds")
    p.add_argument("--cache", default="/work/bench/npz")
    p.add_argument("--variants", default="baseline,tfco")
    p.add_argument("--epochs", type=float, default=10)
    p.add_argument("--warm-epochs", type=float, default=2)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--lr", type=float, default=0.001)
    p.add_argument("--clr", type=float, default=0.05)
    p.add_argument("--snap", type=int, default=100)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--level", type=float, default=0.75)
    p.add_argument("--decay", action="store_true")
    p.add_argument("--aux", type=float, default=0.0)
    p.add_argument("--resid-units", type=int, default=16)
    p.add_argument("--resid-lr", type=float, default=0.001)
    p.add_argument("--hidden", type=int, default=64)
    a = p.parse_args()
    data = load(a.n, a.data_dir, a.cache)
    (tx, ty, tg), (ex, ey, eg), (sx, sy, sg) = data["train"], data["validation"], data["test"]
    print(json.dumps({"train": len(ty), "eval": len(ey), "test": len(sy)}), flush=True)
    spec = constraints.parse(SPEC_RAW, [0, 1])
    level = a.level or None

    def batches(bs, seed):
        return tf.data.Dataset.from_tensor_slices((tx, ty, tg)).shuffle(
            20000, seed=seed, reshuffle_each_iteration=True).repeat().batch(
            bs, drop_remainder=True).prefetch(2)

    def evaluate(m):
        logits = m.predict(ex, batch_size=4096, verbose=0)
        return constraints.measure(spec, logits, ey, eg, level=level)

    def steps_for(epochs, bs):
        return int(math.ceil(epochs * len(ty) / bs))

    results = {}
    baseline_weights = None

    def report(name, model, extra=None, t0=None):
        test_logits = model.predict(sx, batch_size=4096, verbose=0).reshape(-1)
        r = {"variant": name, **summarize(test_logits > 0, sy, sg)}
        if extra:
            r.update(extra)
        if t0:
            r["seconds"] = round(time.time() - t0, 1)
        print(json.dumps(r), flush=True)
        return test_logits

    for variant in a.variants.split(","):
        tf.keras.utils.set_random_seed(a.seed)
        t0 = time.time()
        model = models.image_classifier("mlp", 28, hidden_units=a.hidden)
        name = variant
        constrained = variant.startswith("tfco")
        epochs = a.epochs
        lr = a.lr
        aux_hidden = None
        if variant.startswith("tfco_warm"):
            model.set_weights(baseline_weights)
            epochs = a.warm_epochs
        if variant.startswith("tfco_resid"):
            import tf_keras as keras
            base = model
            base.set_weights(baseline_weights)
            base.trainable = False
            pixels = keras.Input(shape=(28 * 28 * 3,), name="image", dtype="uint8")
            x = keras.layers.Rescaling(1.0 / 255)(pixels)
            h = keras.layers.Dense(a.resid_units, activation="relu")(x)
            corr = keras.layers.Dense(1, kernel_initializer="zeros")(h)
            out = keras.layers.Add()([base(pixels), corr])
            model = keras.Model(pixels, out)
            aux_hidden = h
            epochs = a.warm_epochs
            lr = a.resid_lr
        if a.decay:
            lr = tf.keras.optimizers.schedules.CosineDecay(lr, steps_for(epochs, a.batch), alpha=0.05)
        opt = tf.keras.optimizers.Adam(lr)
        if constrained:
            slot = BatchSlot()
            problem = constraints.build_problem(
                spec, lambda: model(slot.features, training=True)[:, 0], slot)
            cstep = ConstrainedStep(problem, slot, model.trainable_variables, opt,
                                   tf.keras.optimizers.Adam(a.clr), jit_compile=True)
            step = cstep.step
            if a.aux:
                import tf_keras as keras
                hidden = aux_hidden
                if hidden is None:
                    hidden = model.layers[-2].output
                aux_head = keras.layers.Dense(1, name="aux_group")
                aux_model = keras.Model(model.input, aux_head(hidden))
                aux_vars = aux_head.trainable_variables
                copt = tf.keras.optimizers.Adam(a.clr)
                allvars = list(model.trainable_variables) + list(problem.trainable_variables)

                def _step(features, labels, groups):
                    slot.fill(features, labels, groups)
                    cstep._update_ops_fn()
                    with tf.GradientTape() as tape:
                        loss = cstep._loss_fn()
                        glog = aux_model(features, training=True)[:, 0]
                        aux_loss = tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(
                            labels=tf.cast(groups, tf.float32), logits=glog))
                        total = loss + a.aux * aux_loss
                    mg, ag, sg = tape.gradient(total, (allvars, aux_vars, cstep.state))
                    opt.apply_gradients(zip(mg + ag, allvars + aux_vars))
                    copt.apply_gradients([(sg, cstep.state)])
                    return loss
                step = tf.function(_step, jit_compile=True, reduce_retracing=True)
        else:
            step = training.plain_step(model, opt, jit_compile=True)
        n_steps = steps_for(epochs, a.batch)
        snaps, cands = training.train_with_snapshots(
            model, step, batches(a.batch, a.seed), n_steps, a.snap, evaluate,
            "/tmp/exp_tb", what=name)
        chosen = selection.choose(cands, constrained=constrained, rank_objectives=False)
        model.set_weights(snaps[chosen])
        extra = {"steps": n_steps, "chosen_step": cands[chosen].step}
        if variant.endswith("_avg"):
            # average of the feasible snapshots' weights in the last half
            pass
        logits = report(name, model, extra, t0)
        if variant == "baseline":
            baseline_weights = model.get_weights()
            el = model.predict(ex, batch_size=4096, verbose=0).reshape(-1)
            th = group_thresholds.choose(spec, el, ey, eg, level=level)
            dec = group_thresholds.decide(th, logits, sg)
            print(json.dumps({"variant": "frontier", **summarize(dec, sy, sg),
                              "thresholds": {str(k): float(v) for k, v in th.items()}}),
                  flush=True)


if __name__ == "__main__":
    main()
