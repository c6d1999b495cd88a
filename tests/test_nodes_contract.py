"""Node contracts checked in-process against the real ComfyUI 0.3.75 modules.

ComfyUI (from tests/comfy_server.py's cache) is imported into this process in
CPU mode and the pack is loaded under its own package name, as ComfyUI would.
These tests need no model files and run in seconds.
"""

from __future__ import annotations

import asyncio
import gc
import importlib.util
import sys
from pathlib import Path

import pytest
import torch

from tests.comfy_server import REPO_ROOT, ComfyUIUnavailable, import_comfyui_in_process
from tests.node_ids import EXPECTED_NODES

PACK_MODULE = "joyvasa_comfy_pack"


@pytest.fixture(scope="module")
def pack():
    try:
        import_comfyui_in_process()
    except ComfyUIUnavailable as err:
        pytest.fail(f"ComfyUI 0.3.75 test environment unavailable: {err}")
    if PACK_MODULE not in sys.modules:
        spec = importlib.util.spec_from_file_location(
            PACK_MODULE, REPO_ROOT / "__init__.py", submodule_search_locations=[str(REPO_ROOT)]
        )
        module = importlib.util.module_from_spec(spec)
        sys.modules[PACK_MODULE] = module
        spec.loader.exec_module(module)
    return sys.modules[PACK_MODULE]


@pytest.fixture(scope="module")
def node_classes(pack):
    extension = asyncio.run(pack.comfy_entrypoint())
    return {cls.GET_SCHEMA().node_id: cls for cls in asyncio.run(extension.get_node_list())}


@pytest.fixture
def model_dirs(tmp_path, monkeypatch, pack):
    """Empty liveportrait / joyvasa folders registered in place of the defaults."""
    import folder_paths

    from joyvasa_comfy_pack.nodes import model_files

    dirs = {}
    for name, extensions in model_files.MODEL_FOLDER_EXTENSIONS.items():
        dirs[name] = tmp_path / name
        dirs[name].mkdir()
        monkeypatch.setitem(folder_paths.folder_names_and_paths, name, ([str(dirs[name])], set(extensions)))
    return dirs




def test_extension_lists_every_node_with_a_valid_prefixed_schema(node_classes):
    assert set(node_classes) == EXPECTED_NODES
    for node_id, cls in node_classes.items():
        schema = cls.GET_SCHEMA()  # validates ids and builds the V1 view, as the server does
        assert node_id.startswith("JoyVASA")
        assert schema.display_name.startswith("JoyVASA")
        assert schema.category.startswith("JoyVASA")
        assert schema.description
        info = cls.GET_NODE_INFO_V1()
        assert info["name"] == node_id


def test_every_node_has_a_help_page(node_classes):
    for node_id in node_classes:
        page = REPO_ROOT / "web" / "docs" / f"{node_id}.md"
        assert page.is_file(), f"missing {page}"
        assert page.read_text().startswith("# ")


def test_pack_import_is_light(pack):
    """Importing the pack registers folders but loads no model and no heavy library module."""
    heavy = [m for m in ("joyvasa.pipeline", "transformers", "huggingface_hub") if m in sys.modules]
    # Other tests in this process may have imported them; check in a fresh interpreter instead.
    import subprocess

    code = (
        "import sys; sys.path[:0] = %r\n"
        "from tests.comfy_server import import_comfyui_in_process; import_comfyui_in_process()\n"
        "import importlib.util\n"
        "spec = importlib.util.spec_from_file_location('p', %r, submodule_search_locations=[%r])\n"
        "m = importlib.util.module_from_spec(spec); sys.modules['p'] = m; spec.loader.exec_module(m)\n"
        # The widgets read joyvasa.options (the network classes' modules, no weights); the
        # pipeline, the speech encoder's library, and the hub client wait for a run.
        "bad = [n for n in ('joyvasa.pipeline', 'transformers', 'huggingface_hub')"
        " if n in sys.modules]\n"
        "print('HEAVY', bad)\n"
    ) % ([str(REPO_ROOT)], str(REPO_ROOT / "__init__.py"), str(REPO_ROOT))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert "HEAVY []" in out.stdout, out.stdout + out.stderr
    del heavy


def test_widgets_take_defaults_ranges_and_choices_from_the_library(node_classes):
    """Every widget named after an option field shows that field's default, range and choices."""
    import dataclasses

    from joyvasa.options import STAGE_OPTIONS

    from joyvasa.video.crop_options import VideoCropOptions

    fields = {f.name: f for cls in STAGE_OPTIONS for f in dataclasses.fields(cls)}
    own = {"JoyVASAExtractMotionFromVideo": VideoCropOptions}  # a video's crop has its own defaults (2.0 / -0.1)
    checked = 0
    for node_id, cls in node_classes.items():
        info = cls.GET_NODE_INFO_V1()["input"]
        node_fields = {**fields, **{f.name: f for f in dataclasses.fields(own[node_id])}} if node_id in own else fields
        for name, spec in {**info.get("required", {}), **info.get("optional", {})}.items():
            if name not in node_fields:
                continue
            field, options = node_fields[name], spec[1] if len(spec) > 1 else {}
            assert options.get("default") == field.default, (node_id, name)
            if field.metadata["choices"]:
                listed = spec[0] if isinstance(spec[0], list) else options.get("options")
                assert list(listed) == list(field.metadata["choices"]), (node_id, name)
            elif field.metadata["min"] is not None:
                assert (options["min"], options["max"]) == (field.metadata["min"], field.metadata["max"]), (node_id, name)
            checked += 1
    assert checked > 40  # Extract Source, Encode Audio, Sample/Edit Motion, Render x2 and Animate


def test_bad_numbers_from_the_api_are_node_errors_naming_the_input(node_classes):
    from joyvasa.options import OptionError, SampleOptions

    values = {f: getattr(SampleOptions(), f) for f in ("preset", "sampler", "steps", "seed", "smoothing",
                                                       "pe_variant", "timing")}
    with pytest.raises(OptionError, match="cfg_scale is nan; it must be a finite number"):
        node_classes["JoyVASASampleMotion"].execute(motion_generator=None, audio_features=None,
                                                    cfg_scale=float("nan"), **values)
    with pytest.raises(OptionError, match="fps is nan"):
        node_classes["JoyVASAEncodeAudio"].execute(motion_generator=None, audio={
            "waveform": torch.zeros(1, 1, 1600), "sample_rate": 16000}, fps=float("nan"))


def test_model_folders_keep_extra_model_paths_and_list_only_model_files(pack, tmp_path, monkeypatch):
    import folder_paths

    from joyvasa_comfy_pack.nodes import model_files

    yaml_dir = tmp_path / "from_yaml"
    yaml_dir.mkdir()
    (yaml_dir / "warping_module.safetensors").write_bytes(b"x")
    (yaml_dir / "notes.txt").write_text("not a model")
    monkeypatch.setattr(folder_paths, "folder_names_and_paths", dict(folder_paths.folder_names_and_paths))
    folder_paths.folder_names_and_paths.pop("liveportrait", None)
    # What ComfyUI does for `liveportrait: ...` in extra_model_paths.yaml, before packs load:
    folder_paths.add_model_folder_path("liveportrait", str(yaml_dir), is_default=True)
    model_files.register_model_folders()

    paths, extensions = folder_paths.folder_names_and_paths["liveportrait"]
    assert paths[0] == str(yaml_dir)
    assert paths[1] == str(Path(folder_paths.models_dir) / "liveportrait")
    assert ".safetensors" in extensions and ".pth" in extensions
    assert folder_paths.get_filename_list("liveportrait") == ["warping_module.safetensors"]
    model_files.register_model_folders()  # idempotent
    assert folder_paths.folder_names_and_paths["liveportrait"][0].count(paths[1]) == 1


def test_missing_models_give_the_download_command(node_classes, model_dirs):
    from joyvasa_comfy_pack.nodes.model_files import ModelFileMissing

    auto = {n: "auto" for n in ("appearance_feature_extractor", "motion_extractor", "warping_module",
                                "spade_generator", "stitching_retargeting_module")}
    with pytest.raises(ModelFileMissing) as err:
        node_classes["JoyVASALoadLivePortrait"].execute(
            kind="human", device="cpu", precision="auto", download="off", **auto
        )
    message = str(err.value)
    assert "hf download KwaiVGI/LivePortrait" in message
    assert str(model_dirs["liveportrait"]) in message
    with pytest.raises(ModelFileMissing) as err:
        node_classes["JoyVASALoadMotionGenerator"].execute(
            checkpoint="auto", motion_template="auto", audio_encoder="none", device="cpu", download="off"
        )
    assert "hf download jdh-algo/JoyVASA motion_generator/motion_generator_hubert_chinese.pt" in str(err.value)


def test_official_download_plan_matches_the_repository_layout(pack):
    from joyvasa_comfy_pack.nodes import model_files

    plan = model_files.download_plan(["human", "animal"], "KwaiVGI/LivePortrait")
    names = [item.filename for item in plan]
    assert "liveportrait/base_models/warping_module.pth" in names
    assert "liveportrait_animals/base_models_v1.1/warping_module.pth" in names
    assert names.count("liveportrait/retargeting_models/stitching_retargeting_module.pth") == 1
    assert "motion_generator/motion_generator_hubert_chinese.pt" in names


def test_batches_of_portraits_or_clips_are_refused(pack):
    from joyvasa_comfy_pack.nodes import convert

    with pytest.raises(ValueError, match="one portrait per run.*batch of 2|batch of 2.*one portrait per run"):
        convert.one_image(torch.zeros(2, 64, 64, 3))
    with pytest.raises(ValueError, match="one clip at a time"):
        convert.one_clip({"waveform": torch.zeros(2, 1, 100), "sample_rate": 16000})
    with pytest.raises(ValueError, match="batch of 2 masks"):
        convert.one_mask(torch.zeros(2, 64, 64))
    assert convert.one_image(torch.rand(1, 8, 6, 4)).shape == (8, 6, 4)
    waveform, rate = convert.one_clip({"waveform": torch.zeros(1, 2, 100), "sample_rate": 44100})
    assert waveform.shape == (2, 100) and rate == 44100


def test_model_cache_shares_loaded_models_and_releases_them(pack):
    from joyvasa_comfy_pack.nodes.models import ModelCache, manage

    cache = ModelCache()
    loads = []

    def load():
        loads.append(1)
        net = torch.nn.Linear(2, 2)
        return manage(net, net, "test", torch.device("cpu"), torch.device("cpu"), torch.float32, {})

    first = cache.get_or_load(("k",), load)
    assert cache.get_or_load(("k",), load) is first and len(loads) == 1
    del first
    gc.collect()
    assert len(cache) == 0  # nothing holds it any more: released
    cache.get_or_load(("k",), load)
    assert len(loads) == 2


def test_models_are_loaded_by_comfy_model_management_and_released_by_unload(pack):
    """ready() registers the networks with ComfyUI's loaded models; Unload models (what
    POST /free runs) takes them off that list again, so ComfyUI can give the memory to others."""
    import comfy.model_management as mm

    from joyvasa_comfy_pack.nodes.models import manage

    networks = torch.nn.ModuleDict({"generator": torch.nn.Linear(4, 4)})
    managed = manage(object(), networks, "test", torch.device("cpu"), torch.device("cpu"), torch.float32, {})
    managed.ready()
    assert any(m.model is managed.patcher for m in mm.current_loaded_models)
    mm.unload_all_models()
    assert not any(m.model is managed.patcher for m in mm.current_loaded_models)
    managed.ready()  # and loads again on the next run
    assert any(m.model is managed.patcher for m in mm.current_loaded_models)
    mm.unload_all_models()


def test_progress_reports_and_cancel_interrupts(pack):
    import comfy.model_management as mm
    import comfy.utils

    from joyvasa_comfy_pack.nodes.runtime import Progress

    seen = []
    previous = comfy.utils.PROGRESS_BAR_HOOK
    comfy.utils.set_progress_bar_global_hook(lambda value, total, preview, node_id=None: seen.append((value, total)))
    try:
        progress = Progress("7")
        progress(1, 4)
        progress(4, 4)
        assert seen == [(1, 4), (4, 4)]
        mm.interrupt_current_processing(True)
        with pytest.raises(mm.InterruptProcessingException):
            progress(2, 4)
    finally:
        mm.interrupt_current_processing(False)
        comfy.utils.set_progress_bar_global_hook(previous)


def _motion(frames=6, fps=5.0):
    from joyvasa.motion import Motion

    g = torch.Generator().manual_seed(0)
    return Motion(
        exp=torch.randn(frames, 21, 3, generator=g),
        scale=1 + 0.1 * torch.randn(frames, 1, generator=g),
        t=torch.randn(frames, 3, generator=g),
        pitch=torch.randn(frames, 1, generator=g),
        yaw=torch.randn(frames, 1, generator=g),
        roll=torch.randn(frames, 1, generator=g),
        fps=fps,
    )


def test_edit_motion_node_uses_the_library_edits(node_classes):
    motion = _motion()
    out = node_classes["JoyVASAEditMotion"].execute(motion=motion, expression_scale=0.0, pose_scale=1.0)
    (edited,) = out.result
    torch.testing.assert_close(edited.exp, motion.exp[:1].expand_as(motion.exp))
    torch.testing.assert_close(edited.yaw, motion.yaw)
    (still,) = node_classes["JoyVASAEditMotion"].execute(motion=motion, expression_scale=1.0, pose_scale=0.0).result
    torch.testing.assert_close(still.yaw, motion.yaw[:1].expand_as(motion.yaw))


def test_save_then_load_motion(node_classes, tmp_path, monkeypatch):
    import folder_paths

    monkeypatch.setattr(folder_paths, "output_directory", str(tmp_path / "output"))
    monkeypatch.setattr(folder_paths, "input_directory", str(tmp_path / "input"))
    (tmp_path / "input").mkdir()
    motion = _motion(frames=4, fps=5.0)
    out = node_classes["JoyVASASaveMotion"].execute(motion=motion, filename_prefix="joyvasa/motion")
    (entry,) = out.ui["motion"]
    assert entry["subfolder"] == "joyvasa" and entry["filename"].endswith(".safetensors")

    load = node_classes["JoyVASALoadMotion"]
    options = load.GET_NODE_INFO_V1()["input"]["required"]["motion_file"]
    name = f"joyvasa/{entry['filename']} [output]"
    assert name in options[1]["options"] if isinstance(options[1], dict) and "options" in options[1] else name in options[0]
    assert load.validate_inputs(motion_file=name) is True
    assert "does not exist" in load.validate_inputs(motion_file="nope.safetensors")
    loaded, fps = load.execute(motion_file=name).result
    assert fps == 5.0 and len(loaded) == 4
    torch.testing.assert_close(loaded.exp, motion.exp)


def test_registry_metadata_parses_with_comfyuis_own_parser(pack):
    import tomllib

    from comfy_config import config_parser

    config = config_parser.extract_node_configuration(str(REPO_ROOT))
    assert config.project.name == "joyvasa" and config.project.version
    assert config.tool_comfy.display_name and config.tool_comfy.publisher_id
    declared = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    required = [line.split("#")[0].strip() for line in (REPO_ROOT / "requirements.txt").read_text().splitlines()]
    assert sorted(declared) == sorted(line for line in required if line)
    assert (REPO_ROOT / "LICENSE").is_file()


def test_liveportrait_lists_offer_each_network_only_its_files(node_classes, model_dirs):
    for name in ("liveportrait/base_models/warping_module.pth", "animal/warping_module.safetensors",
                 "spade_generator.safetensors", "landmark_model.pth"):
        (model_dirs["liveportrait"] / name).parent.mkdir(parents=True, exist_ok=True)
        (model_dirs["liveportrait"] / name).write_bytes(b"x")
    loaders = {node_id: node_classes[node_id].define_schema() for node_id in
               ("JoyVASALoadLivePortrait", "JoyVASALoadMotionGenerator")}
    options = {i.id: i.options for i in loaders["JoyVASALoadLivePortrait"].inputs if hasattr(i, "options")}
    assert options["warping_module"] == ["auto", "animal/warping_module.safetensors",
                                         "liveportrait/base_models/warping_module.pth"]
    assert options["spade_generator"] == ["auto", "spade_generator.safetensors"]
    assert options["motion_extractor"] == ["auto"]
    # download: the same kind of widget on both loaders, naming the repository to fetch from.
    assert options["download"] == ["off", "KwaiVGI/LivePortrait", "Kijai/LivePortrait_safetensors"]
    motion = {i.id: i for i in loaders["JoyVASALoadMotionGenerator"].inputs}
    assert motion["download"].options == ["off", "jdh-algo/JoyVASA"] and motion["download"].default == "jdh-algo/JoyVASA"
    lp_download = next(i for i in loaders["JoyVASALoadLivePortrait"].inputs if i.id == "download")
    assert lp_download.default == "KwaiVGI/LivePortrait"  # both loaders fetch missing files on first use

    auto = {n: "auto" for n in ("appearance_feature_extractor", "motion_extractor", "spade_generator",
                                "stitching_retargeting_module")}
    with pytest.raises(ValueError, match="warping_module: 'animal/warping_module.safetensors' is animal weights"):
        node_classes["JoyVASALoadLivePortrait"].execute(
            kind="human", device="cpu", precision="auto", download="off",
            warping_module="animal/warping_module.safetensors", **auto)


def test_insightface_is_looked_for_in_every_registered_folder(pack, model_dirs, tmp_path, monkeypatch):
    import folder_paths

    from joyvasa_comfy_pack.nodes import model_files

    from_yaml = tmp_path / "shared_insightface"
    from_yaml.mkdir()
    monkeypatch.setitem(folder_paths.folder_names_and_paths, "insightface", ([str(from_yaml)], set()))
    assert model_files.insightface_folders() == [
        str(from_yaml), str(Path(folder_paths.models_dir) / "insightface"), str(model_dirs["liveportrait"]),
        str(Path(folder_paths.models_dir))]


def test_render_node_and_cli_build_the_same_driving_options(node_classes):
    """The node path and the command line reach pipeline.driving_keypoints with equal RenderOptions
    for the same settings (tests/test_driving_golden.py pins the CLI path to upstream's numbers)."""
    from joyvasa.cli import build_parser
    from joyvasa.options import RenderOptions

    from joyvasa_comfy_pack.nodes.widgets import options_from

    widgets = {"preset": "custom", "driving_option": "pose-friendly", "driving_multiplier": 1.2,
               "stitching": False, "relative_motion": True, "region": "lip", "lip_normalize": False,
               "paste_back": True, "frames_per_batch": 0}
    info = node_classes["JoyVASARender"].GET_NODE_INFO_V1()["input"]["required"]
    assert set(widgets) <= set(info)  # every switch is a widget of the node
    argv = ["--image", "a", "--audio", "b", "--out", "c", "--liveportrait", "d", "--motion-generator", "e",
            "--template", "f", "--driving-option", "pose-friendly", "--driving-multiplier", "1.2",
            "--no-stitching", "--relative-motion", "--region", "lip"]
    from_cli = RenderOptions.from_values(vars(build_parser().parse_args(argv)))
    assert options_from(RenderOptions, widgets) == from_cli


def test_every_widget_has_a_tooltip(node_classes):
    missing = []
    for node_id, cls in node_classes.items():
        info = cls.GET_NODE_INFO_V1()["input"]
        for name, spec in {**info.get("required", {}), **info.get("optional", {})}.items():
            is_widget = isinstance(spec[0], list) or spec[0] in ("INT", "FLOAT", "STRING", "BOOLEAN", "COMBO")
            options = spec[1] if len(spec) > 1 and isinstance(spec[1], dict) else {}
            if is_widget and not options.get("tooltip"):
                missing.append(f"{node_id}.{name}")
    assert not missing, missing


def test_every_node_with_a_model_input_gets_its_models_loaded_for_it(node_classes):
    """No node calls ready() by hand: each one with a model input has a ``loads_models``
    execute, which hands it the library model already loaded by ComfyUI's model management."""
    import comfy.model_management as mm

    from joyvasa_comfy_pack.nodes import types
    from joyvasa_comfy_pack.nodes.models import loads_models, manage

    model_types = {types.LivePortrait.io_type, types.MotionGenerator.io_type}
    heavy = sorted(node_id for node_id, cls in node_classes.items()
                   if any(i.get_io_type() in model_types for i in cls.GET_SCHEMA().inputs))
    assert heavy == sorted(["JoyVASAAnimate", "JoyVASADubVideo", "JoyVASAEncodeAudio", "JoyVASAExtractMotionFromVideo",
                            "JoyVASAExtractSource", "JoyVASAPreviewMotion", "JoyVASARender",
                            "JoyVASARenderToVideo", "JoyVASASampleMotion"])
    assert [node_id for node_id in heavy if not getattr(node_classes[node_id].execute, "loads_models", False)] == []

    networks = torch.nn.Linear(2, 2)
    managed = manage("the library model", networks, "test", torch.device("cpu"), torch.device("cpu"),
                     torch.float32, {})
    seen = []

    @loads_models
    def execute(cls, model, other=None):
        seen.append((model, other))
        return "done"

    mm.unload_all_models()
    assert execute(None, managed, other=managed) == "done"
    assert seen == [("the library model", "the library model")]
    assert any(m.model is managed.patcher for m in mm.current_loaded_models)
    mm.unload_all_models()
