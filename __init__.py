"""ComfyUI-JoyVASA: make a portrait talk from an audio clip, inside ComfyUI.

ComfyUI imports this file as the node pack (V3 API: ``comfy_entrypoint``).
The library under ``joyvasa/`` never imports ComfyUI; the nodes under
``nodes/`` convert ComfyUI's types, resolve model files and report progress.

Nothing heavy happens at import time: no model loading, no downloads.
"""

import importlib.util
import logging
import os
import sys

WEB_DIRECTORY = "./web"

_PACK_DIR = os.path.dirname(os.path.abspath(__file__))


def _bind_library() -> None:
    """Make ``import joyvasa`` resolve to the library shipped in this folder.

    ComfyUI does not put a pack's folder on ``sys.path``; binding just this one
    name avoids exposing the pack's other top-level folders to everyone.
    """
    library = os.path.join(_PACK_DIR, "joyvasa")
    loaded = sys.modules.get("joyvasa")
    if loaded is not None:
        where = os.path.dirname(os.path.abspath(getattr(loaded, "__file__", "") or ""))
        if where != library:
            logging.warning("[JoyVASA] another 'joyvasa' package is already imported from %s; using it", where)
        return
    spec = importlib.util.spec_from_file_location(
        "joyvasa", os.path.join(library, "__init__.py"), submodule_search_locations=[library]
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules["joyvasa"] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules["joyvasa"]
        raise


try:
    import comfy_api.latest  # noqa: F401  (present in every ComfyUI with the V3 API)
except ImportError:
    # Imported outside ComfyUI (for example by pytest walking up from tests/):
    # there is nothing to register.
    __all__ = ["WEB_DIRECTORY"]
else:
    _bind_library()
    from .nodes import comfy_entrypoint  # noqa: E402

    __all__ = ["WEB_DIRECTORY", "comfy_entrypoint"]
