#!/usr/bin/env bash
# The one way fairgate's Python stack is installed: setup.sh runs it into the local
# virtual environment, deploy/Dockerfile into the project image, so the image
# cannot drift from what the tests ran.
#
#   deploy/install_stack.sh PYTHON stack     # the pinned TFX 1.16 stack
#   deploy/install_stack.sh PYTHON project   # fairgate itself, editable
#   deploy/install_stack.sh PYTHON all       # both
#
# Run from anywhere; paths are relative to the repository root.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
python="${1:?usage: install_stack.sh PYTHON stack|project|all}"
part="${2:?usage: install_stack.sh PYTHON stack|project|all}"
quiet="${FAIRGATE_PIP_QUIET---quiet}"

stack() {
  "$python" -m pip install $quiet --upgrade "pip>=24"
  # The lock holds every package of the resolved TFX 1.16 stack (pip freeze), so
  # the install resolves the same way every time and pip does no backtracking.
  "$python" -m pip install $quiet -r "$root/requirements.lock"
  # fairness-indicators 0.47 wants tensorflow-hub>=0.16.1 while tfx 1.16 wants
  # <0.16: its metric code works with either, so it goes in without its dependencies.
  "$python" -m pip install $quiet --no-deps -r "$root/requirements-nodeps.txt"
}

project() {
  # Editable: eval_configs/ and configs/ are read beside the code.
  "$python" -m pip install $quiet --no-deps --no-build-isolation -e "$root"
  # fairgate's own modules that Kubeflow tasks import: the entrypoint, the
  # components' executors and the custom artifact type by its TYPE_NAME
  # (tests/test_kubeflow_spec.py imports every class the compiled spec names),
  # and the paths that specs and EvalConfigs written before the package layout name.
  "$python" -c "import pipeline.kfp_entrypoint, fairgate.metrics.group_metrics, \
fairgate.kfp_entrypoint, fairgate.group_metrics, \
trainer_module.run_fn, components.gated_pusher, components.serving_model, \
components.evaluator, components.fairness_report, components.celeba_example_gen, components.csv_example_gen, \
components.data_gate; \
from fairgate import FairnessReport, TrainSplitFacts"
}

case "$part" in
  stack) stack ;;
  project) project ;;
  all) stack; project ;;
  *) echo "install_stack.sh: unknown part '$part' (stack, project or all)" >&2; exit 2 ;;
esac
