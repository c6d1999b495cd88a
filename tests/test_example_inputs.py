"""The example inputs the templates name are shipped and copied into ComfyUI's input folder."""

import json

import av

from tests.comfy_server import REPO_ROOT, module_from_file


def _module():
    return module_from_file("nodes/example_inputs.py")


def test_missing_files_are_copied_and_a_users_file_is_never_overwritten(tmp_path):
    module = _module()
    names = [p.name for p in module.example_files()]
    (tmp_path / "joyvasa_cat.jpg").write_bytes(b"the user's own cat")
    copied = module.copy_example_inputs(str(tmp_path))
    assert sorted(copied) == sorted(n for n in names if n != "joyvasa_cat.jpg")
    assert (tmp_path / "joyvasa_cat.jpg").read_bytes() == b"the user's own cat"
    for name in copied:
        assert (tmp_path / name).read_bytes() == (module.EXAMPLE_INPUTS_DIR / name).read_bytes()
    assert module.copy_example_inputs(str(tmp_path)) == []  # a second start copies nothing
    assert not list(tmp_path.glob("*partial*"))


def test_an_unwritable_folder_is_logged_not_raised(tmp_path, caplog):
    blocker = tmp_path / "not_a_folder"
    blocker.write_text("")
    assert _module().copy_example_inputs(str(blocker / "input")) == []
    assert "could not copy" in caplog.text


def test_every_file_a_template_loads_is_shipped_and_small():
    module = _module()
    shipped = {p.name for p in module.example_files()}
    named = set()
    for twin in (REPO_ROOT / "example_workflows" / "api").glob("*.json"):
        for node in json.loads(twin.read_text()).values():
            if node["class_type"] in ("LoadImage", "LoadAudio", "LoadVideo"):
                named.add(next(iter(node["inputs"].values())))
    assert named and named <= shipped, named - shipped
    assert sum((module.EXAMPLE_INPUTS_DIR / n).stat().st_size for n in shipped) < 400_000
    with av.open(str(module.EXAMPLE_INPUTS_DIR / "joyvasa_speech.flac")) as container:
        seconds = sum(f.samples for f in container.decode(audio=0)) / container.streams.audio[0].rate
    assert 1.0 < seconds < 5.0
