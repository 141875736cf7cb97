"""One small DAG run (LocalDagRunner, 50 steps, snapshots every 25), printing
each Trainer's time from the start of its training loop to the end of its first
step, the step's tracing count, and every component's seconds from ML Metadata.

  PYTHONPATH=CODE_DIR python run_bench.py CODE_DIR OUTDIR tabular|image

tabular: tests/tabular.py's 600-row CSV, an FPR bound on region=south (the group
head on); image: the embedded faces, 300 at 16x16, the default constraints.
Kept as run for benchmarks/README.md's row of 2026-12-01 (before: main b9ca3ac,
after: issue17-tfcotrace 8faf285), one run each under the heavy lock."""
import logging
import os
import sqlite3
import sys
import time
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
code, out, kind = sys.argv[1], sys.argv[2], sys.argv[3]
sys.path.insert(0, code)
t0 = time.time()
import pathlib
tmp = pathlib.Path(out); tmp.mkdir(parents=True, exist_ok=True)
from tests import pipeline_helpers as helpers
if kind == "tabular":
    from tests.tabular import write_csv
    write_csv(tmp / "csv" / "data.csv", rows=600, label="approved", group="region")
    config = helpers.make_config(tmp, source="csv", input_base=str(tmp / "csv"),
                                 label="approved", group="region")
    config.evaluation.groups = ["north", "south"]
    config.trainer.constraints = {"constraints": [
        {"rate": "false_positive_rate", "group": "south", "upper_bound": 0.2}]}
else:
    from fairgate.data import embedded_celeba
    embedded_celeba.prepare(str(tmp / "tfds"), num_examples=300, seed=3)
    tfds_dir = str(tmp / "tfds")
    config = helpers.make_config(tmp, source="tfds", data_dir=tfds_dir,
                                 dataset="embedded_celeb_a/n300_seed3", image_size=16)
config.trainer.train_steps = 50
config.trainer.snapshot_every = 25
from trainer_module import training
import trainer_module
print("trainer_module from", trainer_module.__file__, flush=True)
original = training.train_with_snapshots
def timed(model, step, *args, **kwargs):
    entered = time.time()
    calls = {"n": 0}
    def first_timed(*a):
        loss = step(*a)
        if calls["n"] == 0:
            float(loss)
            print(f"{time.time()-t0:7.2f} FIRST STEP {kwargs.get('what')}: "
                  f"{time.time()-entered:.2f} s after the loop began; tracing count "
                  f"{getattr(step, 'experimental_get_tracing_count', lambda: '?')()}", flush=True)
        calls["n"] += 1
        return loss
    result = original(model, first_timed, *args, **kwargs)
    print(f"{time.time()-t0:7.2f} LOOP {kwargs.get('what')}: {time.time()-entered:.2f} s, "
          f"tracing count {getattr(step, 'experimental_get_tracing_count', lambda: '?')()}", flush=True)
    return result
training.train_with_snapshots = timed
class H(logging.Handler):
    def emit(self, r):
        m = r.getMessage()
        if "native_type" in r.name:
            return
        print(f"{time.time()-t0:7.2f} [{r.name}] {m[:160]}", flush=True)
logging.getLogger().addHandler(H()); logging.getLogger().setLevel(logging.INFO)
print(f"{time.time()-t0:7.2f} imports done", flush=True)
helpers.run(config)
print(f"{time.time()-t0:7.2f} end", flush=True)
db = sqlite3.connect(str(tmp / "metadata.sqlite"))
names = dict(db.execute(
    "select a.execution_id, c.name from Association a join Context c on "
    "a.context_id = c.id join Type t on c.type_id = t.id where t.name = 'node'"))
for i, t, created, updated in db.execute(
        "select e.id, t.name, e.create_time_since_epoch, e.last_update_time_since_epoch "
        "from Execution e join Type t on e.type_id = t.id order by e.id"):
    print(f"{names.get(i, t):45s} {(updated - created) / 1000:7.2f}s")
