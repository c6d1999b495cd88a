"""Fetching model files from the Hugging Face Hub: one attempt per file, progress, cleanup.

What to fetch and from where is :mod:`joyvasa.model_files`; this module only talks to the
hub (``huggingface_hub.hf_hub_download``, which writes into ``<file>.incomplete`` under
``<folder>/.cache/huggingface`` and renames it when complete, so a half-downloaded file
never carries the final name).

One attempt: before the download, one plain ``HEAD`` request (no retry, 10 s timeout)
asks the hub for the file. ``hf_hub_download`` alone, when no copy of the file exists yet,
repeats a failed metadata request with up to five back-off retries (about 20 s a file, more
with timeouts); offline, that check fails at once with a one-line error naming the
``hf download`` command. Nothing here imports ComfyUI or torch.

Switches (read at every call): ``JOYVASA_DOWNLOAD=off`` turns the loaders' automatic
downloads off (:func:`auto_download_off`); ``HF_HUB_OFFLINE=1`` turns every download off;
``HF_ENDPOINT`` points at another hub (a mirror, or the tests' local stand-in).
"""

from __future__ import annotations

import inspect
import os
import urllib.error
import urllib.parse
import urllib.request
from typing import Callable, Optional

from joyvasa.model_files import DOWNLOAD_SWITCH, ModelFileMissing, download_command

CHECK_TIMEOUT_S = 10.0
DEFAULT_ENDPOINT = "https://huggingface.co"
_OFF_VALUES = ("off", "0", "no", "false")
_ON_VALUES = ("1", "on", "yes", "true")

ProgressCallback = Callable[[int, int], None]  # (bytes done, bytes in all)


def offline_reason() -> Optional[str]:
    """``'HF_HUB_OFFLINE=1'`` when huggingface_hub's offline switch is on, else None."""
    value = os.environ.get("HF_HUB_OFFLINE", "").strip().lower()
    return f"HF_HUB_OFFLINE={value}" if value in _ON_VALUES else None


def auto_download_off() -> Optional[str]:
    """Why the loaders must not download (the switch that says so), or None when they may."""
    value = os.environ.get(DOWNLOAD_SWITCH, "").strip().lower()
    if value in _OFF_VALUES:
        return f"{DOWNLOAD_SWITCH}={value}"
    return offline_reason()


def endpoint() -> str:
    return (os.environ.get("HF_ENDPOINT") or DEFAULT_ENDPOINT).rstrip("/")


def file_url(repo: str, filename: str) -> str:
    return f"{endpoint()}/{repo}/resolve/main/{urllib.parse.quote(filename)}"


class HubUnreachable(OSError):
    """The one check before a download failed; the message is the reason, in one line.
    ``whole_hub``: the hub itself cannot be used (offline, refused), not just this file."""

    def __init__(self, reason: str, whole_hub: bool = True):
        super().__init__(reason)
        self.whole_hub = whole_hub


class HubOffline(ModelFileMissing):
    """A download failed because the hub cannot be used at all (offline, HF_HUB_OFFLINE=1,
    refused): any other file would fail the same way."""


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):  # a redirect (to the file store) means: the file is there
        return None


def _hub_headers() -> dict[str, str]:
    try:  # the user's token, if any, for gated or private repositories
        from huggingface_hub import get_token

        token = get_token()
    except Exception:
        token = None
    return {"Authorization": f"Bearer {token}"} if token else {}


def check_available(repo: str, filename: str) -> None:
    """One ``HEAD`` request for the file, no retry; raises :class:`HubUnreachable` (reason in one line)
    when the hub cannot be reached, refuses, or does not have the file."""
    request = urllib.request.Request(file_url(repo, filename), method="HEAD", headers=_hub_headers())
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        with opener.open(request, timeout=CHECK_TIMEOUT_S):
            return
    except urllib.error.HTTPError as err:
        if err.code < 400:  # 3xx: redirected to where the bytes are
            return
        meaning = {401: "refused: log in with `hf auth login`", 403: "refused", 404: "no such file"}
        raise HubUnreachable(f"HTTP {err.code}, {meaning.get(err.code, err.reason)}",
                             whole_hub=err.code != 404) from None
    except urllib.error.URLError as err:
        raise HubUnreachable(f"{endpoint()} cannot be reached: {err.reason}") from None
    except OSError as err:  # timeouts, resets
        raise HubUnreachable(f"{endpoint()} cannot be reached: {err}") from None


def _progress_bar_class(callback: ProgressCallback, state: dict):
    """huggingface_hub's terminal progress bar, also reporting ``(done, total)`` bytes to
    ``callback`` (ComfyUI's bar). An exception of the callback (Cancel) is remembered so
    that it reaches the caller unchanged."""
    from huggingface_hub.utils import tqdm as hub_tqdm

    class Bar(hub_tqdm):
        def update(self, n=1):
            shown = super().update(n)
            self._joyvasa_done = getattr(self, "_joyvasa_done", int(getattr(self, "initial", 0) or 0)) + int(n or 0)
            try:  # counted here: a disabled bar (HF_HUB_DISABLE_PROGRESS_BARS) does not count
                callback(self._joyvasa_done, int(self.total or 0))
            except BaseException as err:
                state["error"] = err
                raise
            return shown

    return Bar


def _new_paths(root: str, filename: str) -> list[str]:
    """Paths a download of ``filename`` into ``root`` may create: the folders above the file
    and huggingface_hub's bookkeeping tree (``.cache/huggingface``: locks, metadata,
    ``.incomplete`` parts) under ``root``."""
    root = os.path.abspath(root)
    chain, path = [], os.path.dirname(os.path.join(root, filename))
    while os.path.dirname(path) != path:  # up to the filesystem root: os.makedirs makes any
        chain.append(path)
        path = os.path.dirname(path)
    cache = os.path.join(root, ".cache")
    tree = []
    for dirpath, dirnames, filenames in os.walk(cache):
        tree += [os.path.join(dirpath, name) for name in dirnames + filenames]
    return chain + [cache] + tree


def _remove_leftovers(before: set[str], candidates: list[str]) -> None:
    for path in sorted(set(candidates) - before, key=lambda p: -p.count(os.sep)):
        try:
            if os.path.isdir(path) and not os.path.islink(path):
                os.rmdir(path)  # only when empty: files of other downloads stay
            elif os.path.lexists(path):
                os.remove(path)
        except OSError:
            continue


def download_file(repo: str, filename: str, root: str, progress: Optional[ProgressCallback] = None,
                  manual: Optional[str] = None) -> str:
    """Download ``filename`` of a Hugging Face ``repo`` into folder ``root`` (its repository
    sub-path kept) and return its full path.

    ``progress(done, total)`` gets the bytes as they arrive. On failure (offline, refused,
    no such file, interrupted), whatever the attempt created (lock, metadata and partial
    files, empty folders) is removed, and :class:`ModelFileMissing` says the reason in one
    line and the manual command (``manual``, else the one for this file). An exception
    raised by ``progress`` (ComfyUI's Cancel) is re-raised as it is, after the cleanup.
    """
    manual = manual or download_command(repo, (filename,), root)

    def failed(reason: str, whole_hub: bool = False) -> ModelFileMissing:
        return (HubOffline if whole_hub else ModelFileMissing)(f"Downloading {filename} from the Hugging Face repository {repo} failed "
                                f"({reason}). Download it by hand:  {manual}")

    offline = offline_reason()
    if offline:
        raise failed(f"{offline} forbids downloads", whole_hub=True)
    try:
        from huggingface_hub import hf_hub_download
    except ImportError:  # pragma: no cover - listed in requirements.txt
        raise ModelFileMissing(
            "Automatic download needs the huggingface_hub package: pip install 'huggingface_hub>=0.34'"
        ) from None
    existing = {path for path in _new_paths(root, filename) if os.path.lexists(path)}
    state: dict = {"error": None}
    try:
        check_available(repo, filename)
        print(f"[JoyVASA] downloading {repo}/{filename} into {root}", flush=True)
        options = {"repo_id": repo, "filename": filename, "local_dir": root}
        parameters = inspect.signature(hf_hub_download).parameters
        if "endpoint" in parameters:
            options["endpoint"] = endpoint()
        if progress is not None and "tqdm_class" in parameters:
            options["tqdm_class"] = _progress_bar_class(progress, state)
        os.makedirs(root, exist_ok=True)
        path = hf_hub_download(**options)
    except BaseException as err:  # network, auth, missing file: one sentence for the user
        _remove_leftovers(existing, _new_paths(root, filename))
        if state["error"] is not None or not isinstance(err, Exception):
            raise  # Cancel (from the progress callback), Ctrl-C
        reason = str(err).splitlines()[0] if str(err) else ""
        if isinstance(err, HubUnreachable):
            raise failed(reason, err.whole_hub) from None
        raise failed(f"{type(err).__name__}: {reason}" if reason else type(err).__name__) from None
    print(f"[JoyVASA] downloaded {path}", flush=True)
    return path
