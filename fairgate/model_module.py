"""A team's model module (`trainer.model: {module_file, function, hparams}`): the
checks made when the config is loaded and the module's content fingerprint.

Loading a config imports neither the module nor TensorFlow: the file is read and
parsed with `ast` only, so a missing file, a syntax error or a missing function
fails at once with the key and the config file named. What only running the
function can tell (it raises, returns no Keras model, the wrong output) is
checked by trainer_module/models.build: in preflight for CSV sources
(preflight.check_model), and in the Trainer for every source.
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


def _is_uri(path: str) -> bool:
    return "://" in path


def shipped_files(module_file: str) -> List[str]:
    """The module file and the .py files beside it (what the Trainer may import);
    a staged module's folder may be object storage (tf.io.gfile)."""
    folder = os.path.dirname(module_file if _is_uri(module_file)
                             else os.path.abspath(module_file))
    if _is_uri(folder):
        import tensorflow as tf  # deferred: only staged modules live there
        names = tf.io.gfile.listdir(folder)
    else:
        names = os.listdir(folder)
    return sorted(f"{folder}/{name}" if _is_uri(folder) else os.path.join(folder, name)
                  for name in names if name.endswith(".py"))


def _read(path: str) -> bytes:
    if _is_uri(path):
        import tensorflow as tf
        with tf.io.gfile.GFile(path, "rb") as f:
            return f.read()
    with open(path, "rb") as f:
        return f.read()


def fingerprint(module_file: str) -> str:
    """sha256 over the shipped files' names and contents (12 hex digits)."""
    digest = hashlib.sha256()
    for path in shipped_files(module_file):
        digest.update(os.path.basename(path).encode() + b"\0")
        digest.update(_read(path) + b"\0")
    return digest.hexdigest()[:12]


STAGING_FOLDER = "_fairgate_model_modules"


def stage(module_file: str, pipeline_root: str) -> str:
    """Copies the module file and its sibling .py files into the pipeline root
    (as TFX stages a Trainer's module_file), in a folder named after their
    fingerprint so that two versions never mix; returns the staged module
    file's path. A gs:// root is written at compile time (credentials then)."""
    import tensorflow as tf  # deferred: compile time only
    folder = "/".join([pipeline_root.rstrip("/"), STAGING_FOLDER,
                       fingerprint(module_file)])
    tf.io.gfile.makedirs(folder)
    for path in shipped_files(module_file):
        target = f"{folder}/{os.path.basename(path)}"
        partial = f"{target}.partial-{os.getpid()}"  # compiles may run at once
        with tf.io.gfile.GFile(partial, "wb") as f:
            f.write(_read(path))
        tf.io.gfile.rename(partial, target, overwrite=True)
    return f"{folder}/{os.path.basename(module_file)}"


def local_copy(module_file: str) -> str:
    """A staged module in object storage, copied with its siblings into a local
    folder the Trainer can import from; a local path is returned as is."""
    if not _is_uri(module_file):
        return module_file
    import tempfile
    folder = tempfile.mkdtemp(prefix="fairgate_model_")
    for path in shipped_files(module_file):
        with open(os.path.join(folder, os.path.basename(path)), "wb") as f:
            f.write(_read(path))
    return os.path.join(folder, os.path.basename(module_file))


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
