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


MINIMUM_COMFYUI = "0.3.75"  # the first release whose comfy_api.latest has every V3 feature the nodes use


def _inside_comfyui() -> bool:
    return "folder_paths" in sys.modules or "comfy" in sys.modules


def _comfyui_version() -> str:
    try:
        from comfyui_version import __version__

        return f"ComfyUI {__version__}"
    except Exception:
        return "this ComfyUI"


def _too_old_message() -> str:
    return (f"[JoyVASA] needs ComfyUI {MINIMUM_COMFYUI} or newer (the V3 node schema, comfy_api.latest); "
            f"{_comfyui_version()} has none, so no JoyVASA node is loaded. Update ComfyUI (Manager -> Update "
            "ComfyUI, or `git pull` and `pip install -r requirements.txt` in the ComfyUI folder) and restart.")


try:
    import comfy_api.latest  # noqa: F401  (present in every ComfyUI with the V3 API)
except ImportError:
    if _inside_comfyui():
        # An older ComfyUI: one line that says why, instead of its generic "skip" warning.
        logging.error(_too_old_message())
        NODE_CLASS_MAPPINGS = {}
        __all__ = ["WEB_DIRECTORY", "NODE_CLASS_MAPPINGS"]
    else:
        # Imported outside ComfyUI (for example by pytest walking up from tests/):
        # there is nothing to register.
        __all__ = ["WEB_DIRECTORY"]
else:
    _bind_library()
    from .nodes import comfy_entrypoint  # noqa: E402

    __all__ = ["WEB_DIRECTORY", "comfy_entrypoint"]
