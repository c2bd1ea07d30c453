"""Loading a function's handler the way Lambda does: its own folder's app.py, the layer beside it."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parent.parent
LAYER_PATH = ROOT / "layers" / "vectorizer"


def load_function(name: str) -> ModuleType:
    """A fresh module for functions/<name>/app.py, under a name of its own.

    Both functions call their module app.py, as Lambda expects; loading each under its own
    name lets one process hold both, and a fresh load starts with a cold container's state.
    """
    if str(LAYER_PATH) not in sys.path:
        sys.path.insert(0, str(LAYER_PATH))
    # Lambda puts the code directory on the path, so app.py may import the modules beside it.
    code_dir = str(ROOT / "functions" / name)
    if code_dir not in sys.path:
        sys.path.insert(0, code_dir)
    path = ROOT / "functions" / name / "app.py"
    module_name = f"functions_{name}_app"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module
