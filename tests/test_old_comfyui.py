"""On a ComfyUI without the V3 schema (no comfy_api.latest), the pack logs one line naming the
minimum version and how to update, and registers nothing (no generic "skip" warning);
outside ComfyUI its import is silent."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

from tests.comfy_server import REPO_ROOT

LOAD_PACK = textwrap.dedent("""
    import importlib.util, json, logging, sys
    records = []
    class Keep(logging.Handler):
        def emit(self, record):
            records.append([record.levelname, record.getMessage()])
    logging.getLogger().addHandler(Keep())
    logging.getLogger().setLevel(logging.INFO)
    if sys.argv[2] == "comfyui":
        import folder_paths, comfy  # what ComfyUI has imported before it loads custom nodes
    spec = importlib.util.spec_from_file_location("old_pack", sys.argv[1] + "/__init__.py",
                                                  submodule_search_locations=[sys.argv[1]])
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    print(json.dumps({"records": records, "mappings": getattr(module, "NODE_CLASS_MAPPINGS", None),
                      "entrypoint": hasattr(module, "comfy_entrypoint")}))
""")


def _load(tmp_path, where: str) -> dict:
    old = tmp_path / "old_comfyui"
    (old / "comfy").mkdir(parents=True)
    (old / "comfy" / "__init__.py").write_text("")
    (old / "folder_paths.py").write_text("models_dir = '/nowhere'\n")
    (old / "comfyui_version.py").write_text("__version__ = '0.3.40'\n")
    (old / "comfy_api").mkdir()  # 0.3.4x had comfy_api, without .latest
    (old / "comfy_api" / "__init__.py").write_text("")
    out = subprocess.run([sys.executable, "-c", LOAD_PACK, str(REPO_ROOT), where], capture_output=True, text=True,
                         cwd=old, env={"PYTHONPATH": str(old), "PATH": "/usr/bin:/bin"}, timeout=120)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_an_older_comfyui_gets_one_line_with_the_minimum_version(tmp_path):
    loaded = _load(tmp_path, "comfyui")
    assert len(loaded["records"]) == 1, loaded["records"]
    level, message = loaded["records"][0]
    assert level == "ERROR" and "\n" not in message
    assert "needs ComfyUI 0.3.75 or newer" in message and "ComfyUI 0.3.40 has none" in message
    assert "Update ComfyUI" in message
    assert loaded["mappings"] == {} and not loaded["entrypoint"]


def test_outside_comfyui_the_import_is_silent(tmp_path):
    loaded = _load(tmp_path, "plain")
    assert loaded["records"] == [] and loaded["mappings"] is None and not loaded["entrypoint"]


def test_the_minimum_is_the_one_the_registry_metadata_states():
    import re

    pack = (REPO_ROOT / "__init__.py").read_text()
    minimum = re.search(r'MINIMUM_COMFYUI = "([\d.]+)"', pack).group(1)
    assert f'requires-comfyui = ">={minimum}"' in (REPO_ROOT / "pyproject.toml").read_text()
