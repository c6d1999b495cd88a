"""The loaders fetch missing model files on first use (in-process ComfyUI 0.3.75, local stand-in
of the Hugging Face Hub: tests/hub_standin.py). Files land in the first folder of the key,
where 'auto' finds them next time; the node's progress bar gets the bytes; 'off',
JOYVASA_DOWNLOAD=off and HF_HUB_OFFLINE=1 keep the hub unasked; offline is one line."""

from __future__ import annotations

from pathlib import Path

import pytest

from joyvasa import model_files as mf
from tests.hub_standin import HubStandIn, closed_endpoint
from tests.test_nodes_contract import model_dirs, node_classes, pack  # noqa: F401  (fixtures)

LP_FILES = {mf.repo_file(mf.OFFICIAL_REPO, network, "human"): f"{network} weights".encode() * 100
            for network in mf.LIVEPORTRAIT_NETWORKS}
JOYVASA_FILES = {mf.MOTION_GENERATOR_FILE: b"generator" * 100, mf.MOTION_TEMPLATE_FILE: b"template" * 100}
AUTO = {network: "auto" for network in mf.LIVEPORTRAIT_NETWORKS}


@pytest.fixture
def hub(monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv(mf.DOWNLOAD_SWITCH, raising=False)
    with HubStandIn({mf.OFFICIAL_REPO: LP_FILES, mf.JOYVASA_REPO: JOYVASA_FILES}) as server:
        monkeypatch.setenv("HF_ENDPOINT", server.url)
        yield server


def _resolve_gets(hub) -> list[str]:
    return [path.split("/resolve/main/")[1] for method, path in hub.requests if method == "GET" and "/resolve/" in path]


def test_missing_files_are_fetched_into_the_first_folder_once(pack, model_dirs, hub, tmp_path, monkeypatch):
    import folder_paths

    from joyvasa_comfy_pack.nodes import model_files

    second = tmp_path / "second_liveportrait"  # a later folder of the key: never the target
    second.mkdir()
    monkeypatch.setitem(folder_paths.folder_names_and_paths, "liveportrait",
                        ([str(model_dirs["liveportrait"]), str(second)], set(mf.LIVEPORTRAIT_EXTENSIONS)))
    bars = []
    paths = model_files.resolve_liveportrait("human", AUTO, progress=lambda done, total: bars.append((done, total)))
    for network, repo_path in zip(mf.LIVEPORTRAIT_NETWORKS, LP_FILES):
        assert paths[network] == str(model_dirs["liveportrait"] / repo_path)
        assert Path(paths[network]).read_bytes() == LP_FILES[repo_path]
    assert sorted(_resolve_gets(hub)) == sorted(LP_FILES)
    assert list(second.iterdir()) == []
    assert (len(LP_FILES["liveportrait/base_models/warping_module.pth"]),) * 2 in bars

    checkpoint, template = model_files.resolve_motion_files("auto", "auto")
    assert checkpoint == str(model_dirs["joyvasa"] / mf.MOTION_GENERATOR_FILE)
    assert Path(template).read_bytes() == JOYVASA_FILES[mf.MOTION_TEMPLATE_FILE]

    hub.requests.clear()  # second run: everything is found, the hub is not asked
    assert model_files.resolve_liveportrait("human", AUTO) == paths
    assert model_files.resolve_motion_files("auto", "auto") == (checkpoint, template)
    assert hub.requests == []


@pytest.mark.parametrize("switch", [("download", "off"), ("JOYVASA_DOWNLOAD", "off"), ("HF_HUB_OFFLINE", "1")])
def test_each_off_switch_keeps_the_hub_unasked(node_classes, model_dirs, hub, monkeypatch, switch):
    name, value = switch
    widget = "off" if name == "download" else "jdh-algo/JoyVASA"
    if name != "download":
        monkeypatch.setenv(name, value)
    with pytest.raises(mf.ModelFileMissing) as err:
        node_classes["JoyVASALoadMotionGenerator"].execute(
            checkpoint="auto", motion_template="auto", audio_encoder="none", device="cpu", download=widget)
    message = str(err.value)
    assert "hf download jdh-algo/JoyVASA" in message and "automatic download is off" in message
    if name != "download":  # the switch is named; the widget would not help, so it is not offered
        assert f"{name}={value}" in message and "set 'download'" not in message
    assert hub.requests == []


def test_offline_loader_fails_in_one_line_after_one_attempt(node_classes, model_dirs, monkeypatch):
    import huggingface_hub.utils._http as hub_http

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv(mf.DOWNLOAD_SWITCH, raising=False)
    monkeypatch.setenv("HF_ENDPOINT", closed_endpoint())
    monkeypatch.setattr(hub_http.time, "sleep", lambda s: pytest.fail(f"huggingface_hub retried (sleep {s} s)"))
    with pytest.raises(mf.ModelFileMissing) as err:
        node_classes["JoyVASALoadLivePortrait"].execute(
            kind="human", device="cpu", precision="auto", download="KwaiVGI/LivePortrait", **AUTO)
    message = str(err.value)
    assert "\n" not in message and "cannot be reached" in message
    # The command fetches the whole set, not only the first file that failed.
    assert message.endswith(mf.download_command_liveportrait("human", str(model_dirs["liveportrait"])))
    assert list(model_dirs["liveportrait"].iterdir()) == []
