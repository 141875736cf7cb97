"""A team's model module (`trainer.model: {module_file, function, hparams}`): the
checks made when the config is loaded and the module's content fingerprint.

Loading a config imports neither the module nor TensorFlow: the file is read and
parsed with `ast` only, so a missing file, a syntax error or a missing function
fails at once with the key and the config file named. What only running the
function can tell (it raises, returns no Keras model, the wrong output) is
checked in the Trainer (trainer_module/models.py).
"""
from __future__ import annotations

import ast
import hashlib
import json
import os
from typing import List, Optional

from fairgate.config import ConfigError, ModelModule


def resolve(module_file: str, origin: str) -> str:
    """Relative to the config file's folder; to the working directory for a config
    built in code (origin "" or "<dict>")."""
    path = os.path.expanduser(module_file)
    if os.path.isabs(path):
        return path
    base = os.path.dirname(os.path.abspath(origin)) if origin and \
        not origin.startswith("<") else os.getcwd()
    return os.path.normpath(os.path.join(base, path))


def check_at_load(module: ModelModule, origin: str) -> None:
    """Resolves `module.module_file` (in place) and checks it defines `function`."""
    where = f"in {origin or 'the default config'}"
    key = f"'trainer.model.module_file' {where}"
    path = resolve(module.module_file, origin)
    if not os.path.isfile(path):
        raise ConfigError(f"{key}: module file {path} does not exist")
    try:
        with open(path, "rb") as f:
            source = f.read()
    except OSError as error:
        raise ConfigError(f"{key}: module file {path} cannot be read "
                          f"({error.strerror})") from None
    try:
        tree = ast.parse(source, filename=path)
    except (SyntaxError, ValueError) as error:
        line = f" line {error.lineno}" if getattr(error, "lineno", None) else ""
        raise ConfigError(f"{key}: {path}{line} is not valid Python "
                          f"({getattr(error, 'msg', error)})") from None
    if module.function not in top_level_names(tree):
        raise ConfigError(f"'trainer.model.function' {where}: '{module.function}' is "
                          f"not defined in {path}")
    module.module_file = path


def top_level_names(tree: ast.Module) -> List[str]:
    """Names a module binds at its top level (def, class, assignment, import)."""
    names = []
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.append(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names += [t.id for t in targets if isinstance(t, ast.Name)]
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names += [(a.asname or a.name).split(".")[0] for a in node.names]
    return names


def shipped_files(module_file: str) -> List[str]:
    """The module file and the .py files beside it (what the Trainer may import)."""
    folder = os.path.dirname(os.path.abspath(module_file))
    return sorted(os.path.join(folder, name) for name in os.listdir(folder)
                  if name.endswith(".py"))


def fingerprint(module_file: str) -> str:
    """sha256 over the shipped files' names and contents (12 hex digits)."""
    digest = hashlib.sha256()
    for path in shipped_files(module_file):
        digest.update(os.path.basename(path).encode() + b"\0")
        with open(path, "rb") as f:
            digest.update(f.read() + b"\0")
    return digest.hexdigest()[:12]


# Beside the Trainer's SavedModel: which model was trained (models.describe).
MODEL_RECORD = "model.json"


def summary(record: dict) -> str:
    """One line naming the model, for the run output and the report."""
    if not record:
        return "model unknown"
    count = f"{record.get('parameters', 0):,} parameters"
    if "builtin" in record:
        return f"built-in model {record['builtin']} ({count})"
    hparams = json.dumps(record.get("hparams") or {}, sort_keys=True)
    return (f"{record['function']} in {record['module_file']} (sha256 "
            f"{record['fingerprint']}), hparams {hparams} ({count})")


def read_record(model_uri: str) -> Optional[dict]:
    """The Trainer's model.json (None when absent); tf.io.gfile, so gs:// too."""
    import tensorflow as tf  # deferred: config loading stays TensorFlow-free
    path = os.path.join(model_uri, MODEL_RECORD)
    if not model_uri or not tf.io.gfile.exists(path):
        return None
    with tf.io.gfile.GFile(path) as f:
        return json.load(f)
