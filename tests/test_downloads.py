"""joyvasa.downloads against a local stand-in of the Hugging Face Hub (tests/hub_standin.py):
files land in the folder given, with progress; offline, refused or switched off, one attempt
at most and a one-line error with the `hf download` command; a cut or cancelled download
leaves no file under the final name."""

from __future__ import annotations

from pathlib import Path

import pytest

from joyvasa import downloads
from joyvasa import model_files as mf
from tests.hub_standin import HubStandIn, closed_endpoint

WEIGHTS = b"stand-in weights " * 4096  # 68 KiB
FILE = "liveportrait/base_models/warping_module.pth"


@pytest.fixture
def hub(monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv(mf.DOWNLOAD_SWITCH, raising=False)
    with HubStandIn({mf.OFFICIAL_REPO: {FILE: WEIGHTS}}) as server:
        monkeypatch.setenv("HF_ENDPOINT", server.url)
        yield server


@pytest.fixture
def no_backoff(monkeypatch):
    """huggingface_hub's back-off sleeps between retries: any call fails the test."""
    import huggingface_hub.utils._http as hub_http

    def sleep(seconds):
        raise AssertionError(f"huggingface_hub retried (sleep {seconds} s)")

    monkeypatch.setattr(hub_http.time, "sleep", sleep)


def _files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()) if root.exists() else []


def test_a_missing_file_is_fetched_into_the_folder_with_progress(tmp_path, hub):
    root = tmp_path / "models" / "liveportrait"
    seen = []
    path = downloads.download_file(mf.OFFICIAL_REPO, FILE, str(root), progress=lambda d, t: seen.append((d, t)))
    assert Path(path) == root / FILE and Path(path).read_bytes() == WEIGHTS
    assert seen and seen[-1] == (len(WEIGHTS), len(WEIGHTS))
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)
    assert [m for m, path in hub.requests if "/resolve/" in path].count("GET") == 1


def test_offline_is_one_attempt_and_one_line_with_the_command(tmp_path, monkeypatch, no_backoff):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("HF_ENDPOINT", closed_endpoint())
    root = tmp_path / "models" / "liveportrait"
    with pytest.raises(downloads.HubOffline) as err:
        downloads.download_file(mf.OFFICIAL_REPO, FILE, str(root))
    message = str(err.value)
    assert "\n" not in message and "cannot be reached" in message
    assert message.endswith(f'hf download KwaiVGI/LivePortrait {FILE} --local-dir "{root}"')
    assert not (tmp_path / "models").exists()


@pytest.mark.parametrize("status", [503, 403])
def test_a_refusing_hub_is_asked_once(tmp_path, hub, no_backoff, status):
    hub.status = status
    with pytest.raises(downloads.HubOffline, match=f"HTTP {status}"):
        downloads.download_file(mf.OFFICIAL_REPO, FILE, str(tmp_path / "lp"))
    assert [path for _, path in hub.requests if "/resolve/" in path] == [f"/KwaiVGI/LivePortrait/resolve/main/{FILE}"]


def test_a_file_the_hub_does_not_have_is_named(tmp_path, hub, no_backoff):
    with pytest.raises(mf.ModelFileMissing) as err:
        downloads.download_file(mf.OFFICIAL_REPO, "liveportrait/nothing.pth", str(tmp_path / "lp"))
    assert not isinstance(err.value, downloads.HubOffline)
    assert "HTTP 404" in str(err.value) and len(hub.requests) == 1  # asked once, not downloaded


def test_hf_hub_offline_asks_nothing(tmp_path, hub, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(downloads.HubOffline, match="HF_HUB_OFFLINE=1 forbids downloads"):
        downloads.download_file(mf.OFFICIAL_REPO, FILE, str(tmp_path / "lp"))
    assert hub.requests == []


def test_the_switches(monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv(mf.DOWNLOAD_SWITCH, raising=False)
    assert downloads.auto_download_off() is None
    monkeypatch.setenv(mf.DOWNLOAD_SWITCH, "off")
    assert downloads.auto_download_off() == "JOYVASA_DOWNLOAD=off"
    monkeypatch.setenv(mf.DOWNLOAD_SWITCH, "on")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert downloads.auto_download_off() == "HF_HUB_OFFLINE=1"


def test_a_cut_download_never_looks_finished(tmp_path, hub, no_backoff):
    hub.truncate = True
    root = tmp_path / "lp"
    with pytest.raises(mf.ModelFileMissing, match="OSError: Consistency check failed"):
        downloads.download_file(mf.OFFICIAL_REPO, FILE, str(root))
    assert _files(root) == []  # no final file, no .incomplete part, no lock


def test_cancel_during_the_download_is_raised_as_it_is_and_leaves_nothing(tmp_path, hub):
    class Interrupted(Exception):  # ComfyUI's InterruptProcessingException is an Exception too
        pass

    def progress(done, total):
        raise Interrupted()

    root = tmp_path / "lp"
    with pytest.raises(Interrupted):
        downloads.download_file(mf.OFFICIAL_REPO, FILE, str(root), progress=progress)
    assert _files(root) == []


def _failing_hub(monkeypatch):
    """A hub that does what huggingface_hub does before a network error: lock and metadata
    files under <local_dir>/.cache/huggingface, the file's folders, then the exception."""
    import huggingface_hub

    def fail(repo_id, filename, local_dir, **options):
        bookkeeping = Path(local_dir) / ".cache" / "huggingface"
        (bookkeeping / "download" / filename).parent.mkdir(parents=True, exist_ok=True)
        (bookkeeping / ".gitignore").write_text("*")
        (bookkeeping / "download" / (filename + ".lock")).write_text("")
        (bookkeeping / "download" / (filename + ".abc.incomplete")).write_bytes(b"partial")
        (Path(local_dir) / filename).parent.mkdir(parents=True, exist_ok=True)
        raise OSError("Network is unreachable")

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", fail)


def test_failed_download_leaves_nothing_behind_and_says_the_command(tmp_path, monkeypatch, hub):
    _failing_hub(monkeypatch)
    root = tmp_path / "models" / "liveportrait"
    with pytest.raises(mf.ModelFileMissing) as err:
        downloads.download_file(mf.OFFICIAL_REPO, FILE, str(root))
    assert "OSError: Network is unreachable" in str(err.value)
    assert str(err.value).endswith(f'hf download KwaiVGI/LivePortrait {FILE} --local-dir "{root}"')
    assert list(tmp_path.iterdir()) == []  # models/ and everything under it were new: all gone


def test_failed_download_keeps_what_was_there(tmp_path, monkeypatch, hub):
    _failing_hub(monkeypatch)
    root = tmp_path / "liveportrait"
    kept = root / ".cache" / "huggingface" / "download" / "warping_module.safetensors.metadata"
    kept.parent.mkdir(parents=True)
    kept.write_text("from an earlier download")
    (root / "liveportrait").mkdir()
    with pytest.raises(mf.ModelFileMissing):
        downloads.download_file(mf.OFFICIAL_REPO, FILE, str(root))
    left = sorted(str(p.relative_to(root)) for p in root.rglob("*"))
    assert left == [".cache", ".cache/huggingface", ".cache/huggingface/download",
                    ".cache/huggingface/download/warping_module.safetensors.metadata", "liveportrait"]
