"""TFX's `custom_eval_shared_model` hook of the Evaluator, by the dotted path TFX
imports it from (model_loading.EVAL_SHARED_MODEL).

TFX reloads the module of a hook each time it imports one
(tfx/utils/import_utils.py `import_func_from_module`), which would renew
model_loading's state in the middle of a run: this module holds none.
"""
from components.evaluator.model_loading import eval_shared_model

__all__ = ["eval_shared_model"]
