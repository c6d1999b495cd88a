"""The node pack inside a real ComfyUI 0.3.75 server (see tests/comfy_server.py).

One server for this module, started on 127.0.0.1 with a copy of the pack in custom_nodes
and a models folder of synthetic, full-size checkpoints in the official formats
(tests/liveportrait_files.py, tests/motion_files.py; human and animal LivePortrait) passed
with --extra-model-paths-config. Nothing else is put into ComfyUI's input folder for the
templates: they must run with the example inputs the pack copies there itself.

Every shipped template (its API twin) runs as shipped, with CPU-friendly speed settings
only (2 fps, DDIM with 2 steps); the saved videos are checked with PyAV. Then: Cancel in the
middle of a streamed render, NaN numbers through /prompt, POST /free, and progress (with
preview pictures) from every stage node.
"""

from __future__ import annotations

import copy
import json
import math
import os
import time
import urllib.parse
import wave
from pathlib import Path

import numpy as np
import pytest

from tests.comfy_server import PACK_DIR_NAME, REPO_ROOT, ComfyServer, ComfyUIUnavailable, module_from_file
from tests.node_ids import EXPECTED_NODES
from tests.workflow_format import NOTE_TYPES, api_to_ui, ui_to_api

WORKFLOWS = REPO_ROOT / "example_workflows"
EXAMPLE_INPUTS = REPO_ROOT / "example_inputs"
FPS = 2.0  # the speed setting of the template runs
SPEECH_SECONDS = 2.6894784580498867  # example_inputs/joyvasa_speech.flac
VIDEO_SECONDS = 1.2  # example_inputs/joyvasa_head_tilt.mp4: 30 frames at 25 fps

_NAMES = module_from_file("docs/template_notes.py")  # the six template names, declared once
ALL_IN_ONE, STAGED, ANIMAL, FROM_VIDEO, DIALOGUE, DUB = _NAMES.TEMPLATES
TEMPLATES = _NAMES.TEMPLATES
DIALOGUE_SECONDS = 2.3132426303854876  # example_inputs/joyvasa_dialogue_a.flac and _b.flac

def _write_speech_like_wav(path: Path, seconds: float, rate: int = 22050) -> Path:
    """Stereo 16-bit WAV: a pitch-gliding tone with syllable-like loudness."""
    t = np.arange(int(seconds * rate)) / rate
    pitch = 140 + 40 * np.sin(2 * np.pi * 0.7 * t)
    tone = np.sin(2 * np.pi * np.cumsum(pitch) / rate) + 0.3 * np.sin(4 * np.pi * np.cumsum(pitch) / rate)
    envelope = 0.5 * (1 + np.sin(2 * np.pi * 4.0 * t)) ** 2 / 4
    signal = (0.6 * tone * envelope * 32767).astype(np.int16)
    with wave.open(str(path), "wb") as handle:
        handle.setnchannels(2)
        handle.setsampwidth(2)
        handle.setframerate(rate)
        handle.writeframes(np.repeat(signal[:, None], 2, axis=1).tobytes())
    return path


@pytest.fixture(scope="module")
def comfy(tmp_path_factory):
    from PIL import Image
    from skimage import data as skimage_data

    from tests import liveportrait_files, motion_files

    workdir = tmp_path_factory.mktemp("comfyui")
    human = liveportrait_files.weights_dir("official_human")
    animal = liveportrait_files.weights_dir("official_animal")
    checkpoint, _template = motion_files.official_files()
    models = {
        "joyvasa_tests": {
            # The motion-generator folder shows up in the LivePortrait pickers too, for the wrong-file test.
            "liveportrait": f"{human}\n{animal.parent}\n{checkpoint.parent}",
            "joyvasa": str(checkpoint.parent),
        }
    }
    try:
        server = ComfyServer(workdir, extra_model_paths=models)
        server.start()
    except ComfyUIUnavailable as err:
        pytest.fail(f"ComfyUI 0.3.75 test environment unavailable: {err}")
    server.weights_bytes = sum(p.stat().st_size for p in human.rglob("*.pth"))
    Image.fromarray(skimage_data.coffee()).save(server.input_dir / "coffee.png")
    _write_speech_like_wav(server.input_dir / "long_speech.wav", 12.0)
    _write_speech_like_wav(server.input_dir / "short_speech.wav", 1.0)
    yield server
    server.stop()


def _our_nodes(object_info: dict) -> dict:
    return {k: v for k, v in object_info.items() if PACK_DIR_NAME in v.get("python_module", "")}


def _api_twin(name: str) -> dict:
    return json.loads((WORKFLOWS / "api" / f"{name}.json").read_text())


def _fast(graph: dict) -> dict:
    """The speed settings of a test run: low fps, DDIM with 2 steps. Nothing else changes."""
    graph = copy.deepcopy(graph)
    for node in graph.values():
        inputs = node["inputs"]
        for name in ("fps",):  # the video's frame rate (Encode Audio, Extract Motion From Video)
            if name in inputs and not isinstance(inputs[name], list):
                inputs[name] = FPS
        if "sampler" in inputs:
            inputs.update(sampler="ddim", steps=2)
    return graph


def _videos(comfy, result) -> dict[str, Path]:
    """Saved .mp4 files by the node that wrote them."""
    found = {}
    for node_id, output in result.outputs.items():
        for key in ("images", "gifs", "videos"):
            for entry in output.get(key, []) or []:
                if isinstance(entry, dict) and entry.get("filename", "").endswith(".mp4"):
                    found[node_id] = comfy.output_dir / entry.get("subfolder", "") / entry["filename"]
    return found


def _check_video(path: Path, frames: int, size: tuple[int, int], audio: bool = True) -> None:
    import av

    with av.open(str(path)) as container:
        assert bool(container.streams.audio) == audio, f"{path.name}: audio stream present = {not audio}"
        decoded = list(container.decode(video=0))
        assert len(decoded) == frames, f"{path.name}: {len(decoded)} frames, expected {frames}"
        assert (decoded[0].width, decoded[0].height) == size
        if audio:
            assert container.streams.audio[0].codec_context.name == "aac"


def _speech_frames() -> int:
    return round(SPEECH_SECONDS * FPS)  # the "aligned" timing: round(fps x duration)


def _progress_nodes(result) -> set[str]:
    return {m["node"] for m in result.of_type("progress") if m.get("node")}


# -- registration, files, templates --------------------------------------------------------

def test_pack_imports_without_failure(comfy):
    failed = [line for line in comfy.log_text().splitlines() if "IMPORT FAILED" in line and PACK_DIR_NAME in line]
    assert not failed, comfy.log_tail()


def test_object_info_lists_every_node_and_the_model_files(comfy):
    info = comfy.object_info()
    assert set(_our_nodes(info)) == EXPECTED_NODES, comfy.log_tail()
    warping = info["JoyVASALoadLivePortrait"]["input"]["required"]["warping_module"]
    options = warping[1]["options"] if warping[0] == "COMBO" else warping[0]
    assert "auto" in options and "base_models/warping_module.pth" in options
    checkpoints = info["JoyVASALoadMotionGenerator"]["input"]["required"]["checkpoint"]
    assert "motion_generator_hubert_chinese.pt" in (checkpoints[1]["options"] if checkpoints[0] == "COMBO" else checkpoints[0])
    for node_id, outputs in (("JoyVASARender", ["frames", "fps"]), ("JoyVASAPreviewMotion", ["frames", "fps"]),
                             ("JoyVASAExtractSource", ["source", "crop_preview"])):
        assert info[node_id]["output_name"] == outputs, info[node_id]["output_name"]


def test_example_inputs_are_in_the_input_folder_and_listed_by_the_loaders(comfy):
    shipped = sorted(p.name for p in EXAMPLE_INPUTS.iterdir() if p.suffix != ".md")
    assert len(shipped) == 7
    for name in shipped:
        assert (comfy.input_dir / name).read_bytes() == (EXAMPLE_INPUTS / name).read_bytes(), name
    info = comfy.object_info()
    assert "joyvasa_astronaut.jpg" in info["LoadImage"]["input"]["required"]["image"][0]
    audio = info["LoadAudio"]["input"]["required"]["audio"]
    assert "joyvasa_speech.flac" in (audio[1]["options"] if audio[0] == "COMBO" else audio[0])
    video = info["LoadVideo"]["input"]["required"]["file"]
    assert "joyvasa_head_tilt.mp4" in (video[1]["options"] if video[0] == "COMBO" else video[0])


@pytest.mark.parametrize("name", TEMPLATES)
def test_templates_match_their_api_twins(comfy, name):
    """The UI file is the twin's graph (widget values as the frontend stores them) with the canvas of
    docs/template_canvas.py (positions, titles, groups, notes); nothing else."""
    info = comfy.object_info()
    twin = _api_twin(name)
    ui_path = WORKFLOWS / f"{name}.json"
    canvas = module_from_file("docs/template_canvas.py")
    expected = canvas.apply(api_to_ui(twin, info), name)
    if os.environ.get("JOYVASA_WRITE_WORKFLOWS") == "1":
        ui_path.write_text(json.dumps(expected, indent=2) + "\n")
    saved = json.loads(ui_path.read_text())
    assert ui_to_api(saved, info) == twin
    assert saved == expected, "regenerate with JOYVASA_WRITE_WORKFLOWS=1 (see tests/workflow_format.py)"
    for node in twin.values():  # untitled nodes carry the title the frontend would show
        assert canvas.DISPLAY_NAMES[node["class_type"]] == info[node["class_type"]]["display_name"]
    # The loaders' download setting is the one the node declares as its default (fetch on first use).
    for node in twin.values():
        if "download" in node["inputs"]:
            spec = info[node["class_type"]]["input"]["required"]["download"]
            assert node["inputs"]["download"] == spec[1]["default"], (node["class_type"], spec[1]["default"])


def test_templates_are_served_with_titles_and_thumbnails(comfy):
    """ComfyUI 0.3.75's frontend (1.32.9) titles a pack's template by its file name and asks
    for ``<name>.jpg`` next to it as the thumbnail."""
    from io import BytesIO

    from PIL import Image

    templates = comfy.get_json("/workflow_templates")
    assert sorted(templates.get(PACK_DIR_NAME, [])) == sorted(TEMPLATES)
    for name in TEMPLATES:
        quoted = urllib.parse.quote(name)
        served = comfy.get_json(f"/api/workflow_templates/{PACK_DIR_NAME}/{quoted}.json")
        graph = {node["type"] for node in served["nodes"] if node["type"] not in NOTE_TYPES}
        assert graph == {n["class_type"] for n in _api_twin(name).values()}
        assert {node["type"] for node in served["nodes"]} & set(NOTE_TYPES) and served["groups"], name
        status, body = comfy.request(f"/api/workflow_templates/{PACK_DIR_NAME}/{quoted}.jpg")
        assert status == 200, name
        with Image.open(BytesIO(body)) as thumbnail:
            assert thumbnail.format == "JPEG" and min(thumbnail.size) >= 256, (name, thumbnail.size)


# -- every template runs as shipped ---------------------------------------------------------

def test_all_in_one_template_makes_a_talking_video(comfy):
    result = comfy.run_prompt(_fast(_api_twin(ALL_IN_ONE)))
    assert result.status == "success", (result.error, comfy.log_tail())
    _check_video(_videos(comfy, result)["7"], _speech_frames(), (512, 512))
    progress = [m for m in result.of_type("progress") if m.get("node") == "5"]
    assert progress and progress[-1]["value"] == progress[-1]["max"]


def test_staged_template_streams_the_video_and_saves_a_preview_and_the_motion(comfy):
    result = comfy.run_prompt(_fast(_api_twin(STAGED)))
    assert result.status == "success", (result.error, comfy.log_tail())
    videos = _videos(comfy, result)
    _check_video(videos["14"], _speech_frames(), (512, 512))  # Render To Video, streamed
    _check_video(videos["13"], _speech_frames(), (512, 512))  # the motion preview
    assert result.outputs["6"]["images"], "crop preview missing"
    assert result.outputs["15"]["images"], "the Motion Report's chart is missing"
    (motion_entry,) = result.outputs["10"]["motion"]
    assert (comfy.output_dir / motion_entry["subfolder"] / motion_entry["filename"]).is_file()
    assert not list(comfy.output_dir.rglob("*.partial.mp4"))

    # The saved motion renders again without sampling (the IMAGE route this time).
    name = f"{motion_entry['subfolder']}/{motion_entry['filename']} [output]"
    graph = {key: node for key, node in _fast(_api_twin(STAGED)).items() if key in ("1", "3", "5")}
    render = {k: v for k, v in _api_twin(STAGED)["14"]["inputs"].items() if k not in ("audio", "filename_prefix")}
    graph["20"] = {"class_type": "JoyVASALoadMotion", "inputs": {"motion_file": name}}
    graph["21"] = {"class_type": "JoyVASARender", "inputs": {**render, "motion": ["20", 0], "paste_back": False}}
    graph["22"] = {"class_type": "PreviewImage", "inputs": {"images": ["21", 0]}}
    again = comfy.run_prompt(graph)
    assert again.status == "success", (again.error, comfy.log_tail())
    assert len(again.outputs["22"]["images"]) == _speech_frames()


def test_animal_template_makes_a_talking_cat(comfy):
    result = comfy.run_prompt(_fast(_api_twin(ANIMAL)))
    assert result.status == "success", (result.error, comfy.log_tail())
    _check_video(_videos(comfy, result)["9"], _speech_frames(), (300, 300))


def test_video_template_moves_the_portrait_like_the_video(comfy):
    result = comfy.run_prompt(_fast(_api_twin(FROM_VIDEO)))
    assert result.status == "success", (result.error, comfy.log_tail())
    # Resampled to fps by sample-and-hold: ceil(duration x fps) frames.
    _check_video(_videos(comfy, result)["7"], math.ceil(VIDEO_SECONDS * FPS), (512, 512), audio=False)
    assert "6" in _progress_nodes(result)  # Extract Motion From Video reports its frames


def test_dialogue_template_makes_two_faces_take_turns(comfy):
    result = comfy.run_prompt(_fast(_api_twin(DIALOGUE)))
    assert result.status == "success", (result.error, comfy.log_tail())
    _check_video(_videos(comfy, result)["13"], round(DIALOGUE_SECONDS * FPS), (640, 320))


def test_dub_template_moves_the_videos_lips_for_the_whole_speech(comfy):
    result = comfy.run_prompt(_fast(_api_twin(DUB)))
    assert result.status == "success", (result.error, comfy.log_tail())
    # The audio's length (the video, 3 frames at 2 fps, is looped), the video's size, the speech muxed.
    _check_video(_videos(comfy, result)["7"], _speech_frames(), (256, 256))
    assert "7" in _progress_nodes(result)


def test_renders_of_different_lengths_are_a_clear_node_error(comfy):
    graph = _fast(_api_twin(DIALOGUE))
    graph["2"]["inputs"]["audio"] = "short_speech.wav"  # face 0: 2 frames at the test's 2 fps; face 1: 5
    result = comfy.run_prompt(graph)
    _assert_node_error(result, "JoyVASARenderToVideo", "paste_onto", "frames but the motion has")
    assert comfy.alive()


# -- Cancel, broken numbers, memory, progress -------------------------------------------------

def _long_render_graph(prefix: str) -> dict:
    staged = _fast(_api_twin(STAGED))
    graph = {key: staged[key] for key in ("1", "3", "4", "5", "7", "8", "14")}
    graph["2"] = {"class_type": "LoadAudio", "inputs": {"audio": "long_speech.wav"}}
    graph["14"]["inputs"].update(motion=["8", 0], filename_prefix=prefix)
    return graph


def test_cancel_during_render_to_video_leaves_no_file(comfy):
    prefix = "video/cancelled"

    def cancel_on_first_render_progress(message):
        data = message.get("data") or {}
        if message.get("type") == "progress" and data.get("node") == "14" and data.get("value", 0) >= 1:
            if not getattr(cancel_on_first_render_progress, "sent", False):
                cancel_on_first_render_progress.sent = True
                comfy.request("/interrupt", {})

    result = comfy.run_prompt(_long_render_graph(prefix), on_message=cancel_on_first_render_progress)
    assert getattr(cancel_on_first_render_progress, "sent", False), "Render To Video never reported progress"
    assert result.of_type("execution_interrupted"), result.messages[-3:]
    assert result.status != "success"
    time.sleep(0.5)
    left = sorted(p.name for p in (comfy.output_dir / "video").glob("cancelled*"))
    assert left == [], f"Cancel left {left}"
    assert comfy.alive()


@pytest.mark.parametrize("node_id, name", [("8", "cfg_scale"), ("7", "fps")])
def test_nan_numbers_through_the_api_are_node_errors_naming_the_input(comfy, node_id, name):
    graph = {key: node for key, node in _fast(_api_twin(STAGED)).items() if key in ("2", "4", "7", "8", "9", "10")}
    graph[node_id]["inputs"][name] = float("nan")  # json.dumps writes NaN, as a script would
    result = comfy.run_prompt(graph)
    message = _assert_node_error(result, graph[node_id]["class_type"], name, "finite")
    assert "Traceback" not in message
    assert comfy.alive() and comfy.get_json("/system_stats")


def _wait_for_log(comfy, start: int, said_all, hang_guard_s: float = 600.0) -> str:
    """The server log after ``start`` once ``said_all(text)`` holds.

    Waits for the state change the server reports, however long a busy machine takes; the
    guard only stops a test whose server never says it (the assertion then shows the log)."""
    deadline = time.monotonic() + hang_guard_s
    text = comfy.log_text()[start:]
    while not said_all(text) and time.monotonic() < deadline and comfy.alive():
        time.sleep(0.5)
        text = comfy.log_text()[start:]
    return text


def _pack_messages() -> dict:
    """The log lines nodes/models.py writes (read from its source: the pack imports only inside ComfyUI)."""
    import ast

    tree = ast.parse((REPO_ROOT / "nodes" / "models.py").read_text())
    return {node.targets[0].id: ast.literal_eval(node.value) for node in tree.body
            if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "").endswith("_MESSAGE")}


RSS_DROP_AFTER_FREE = 400 * 2**20  # the LivePortrait (497 MiB) and motion generator (382 MiB) weights


def test_free_releases_the_models_and_every_stage_reports_progress(comfy):
    said_by_pack = _pack_messages()
    released = [said_by_pack["RELEASED_MESSAGE"].format(label=label)
                for label in ("LivePortrait (human)", "motion generator")]

    def both_released_then_returned(text: str) -> bool:
        if not all(line in text for line in released):
            return False
        return text.find(said_by_pack["RETURNED_MESSAGE"], max(text.find(line) for line in released)) >= 0

    # Load both models (a run of the staged template), then ask ComfyUI to free everything.
    first = comfy.run_prompt(_fast(_api_twin(STAGED)))
    assert first.status == "success", (first.error, comfy.log_tail())
    loaded = comfy.rss_bytes()
    start = len(comfy.log_text())
    status, _ = comfy.request("/free", {"unload_models": True, "free_memory": True})
    assert status == 200
    # /free unloads ComfyUI's models and drops its caches: then nothing holds the pack's models
    # (ComfyUI's loaded list keeps weak references, so does the pack's cache), each one's release
    # is logged, and after both the freed heap goes back to the OS (logged after malloc_trim).
    said = _wait_for_log(comfy, start, both_released_then_returned)
    assert both_released_then_returned(said), f"/free did not release both models and their memory:\n{said[-4000:]}"
    freed = comfy.rss_bytes()  # measured after the server said it returned the memory: no race
    assert loaded - freed >= RSS_DROP_AFTER_FREE, f"RSS {loaded / 2**20:.0f} MiB -> {freed / 2**20:.0f} MiB"

    # Nothing is cached now: every stage runs again and reports progress. The loaders report
    # reading their files, which they do only when no loaded model was left to share (the
    # pack's model cache holds models weakly): /free released both.
    again = comfy.run_prompt(_fast(_api_twin(STAGED)))
    assert again.status == "success", (again.error, comfy.log_tail())
    stages = {"3": "Load LivePortrait", "4": "Load Motion Generator", "5": "Extract Source", "7": "Encode Audio",
              "8": "Sample Motion", "11": "Preview Motion", "14": "Render To Video"}
    missing = [label for node, label in stages.items() if node not in _progress_nodes(again)]
    assert not missing, f"no progress from {missing}"
    files_read = [(m["value"], m["max"]) for m in again.of_type("progress") if m.get("node") == "3"]
    assert files_read[-1] == (5, 5), files_read  # four networks and the stitching file
    steps = [(m["value"], m["max"]) for m in again.of_type("progress") if m.get("node") == "4"]
    assert steps[-1] == (4, 4), steps  # checkpoint, speech encoder, generator, template
    # Render To Video shows the newest frame with its progress (binary JPEG preview frames).
    jpegs = [image for _event, kind, image in again.previews if kind == 1 and image[:2] == b"\xff\xd8"]
    assert len(jpegs) >= _speech_frames(), f"{len(again.previews)} preview frames"


# -- broken inputs: a clear node error, and the server keeps serving ------------------------

def _assert_node_error(result, node_type: str, *fragments: str) -> str:
    assert result.status == "error", result.messages
    error = result.error
    assert error is not None and error["node_type"] == node_type, error
    message = error["exception_message"]
    for fragment in fragments:
        assert fragment.lower() in message.lower(), message
    return message


def _source_graph(image: str, **source_changes) -> dict:
    staged = _api_twin(STAGED)
    graph = {"1": {"class_type": "LoadImage", "inputs": {"image": image}}, "3": staged["3"], "5": staged["5"],
             "6": staged["6"]}
    graph["5"]["inputs"].update(source_changes)
    return graph


def test_image_without_a_face_is_a_clear_node_error(comfy):
    result = comfy.run_prompt(_source_graph("coffee.png"))
    message = _assert_node_error(result, "JoyVASAExtractSource", "detector")
    assert "Traceback" not in message
    assert comfy.alive() and comfy.get_json("/system_stats")


def test_motion_generator_given_as_a_liveportrait_file_is_a_clear_node_error(comfy):
    graph = _source_graph("joyvasa_astronaut.jpg")
    graph["3"]["inputs"]["warping_module"] = "motion_generator_hubert_chinese.pt"
    result = comfy.run_prompt(graph)
    _assert_node_error(result, "JoyVASALoadLivePortrait", "motion_generator_hubert_chinese.pt", "warping")
    assert comfy.alive()
    # ... and the next prompt runs normally.
    harness = {
        "1": {"class_type": "EmptyImage", "inputs": {"width": 64, "height": 32, "batch_size": 1, "color": 0}},
        "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "after_error"}},
    }
    assert comfy.run_prompt(harness, timeout=120).status == "success"


# -- a motion generator trained here, through the staged template ---------------------------

def test_a_checkpoint_written_by_train_runs_through_the_staged_template(comfy):
    """`python -m joyvasa.train`'s checkpoint (released layout) and its data folder's template load in
    Load Motion Generator unchanged and drive the staged template to a video (issue 11's last step)."""
    import shutil

    from joyvasa.training import TrainConfig, train
    from tests import motion_files
    from tests.training_data import tiny_audio_encoder, write_synthetic_dataset

    work = comfy.workdir / "trained_run"
    write_synthetic_dataset(work / "data", n_train=4, n_val=1)
    config = TrainConfig(size="tiny", n_motions=25, n_prev_motions=5, batch_size=4, max_steps=10, warmup_steps=2,
                         audio_training="frozen", val_every=10, save_every=10, log_every=5, bf16=False)
    checkpoint = train(config, work / "data", work / "run", audio_encoder=tiny_audio_encoder(), progress=False,
                       device="cpu")
    joyvasa_folder = motion_files.official_files()[0].parent / "trained_here"
    joyvasa_folder.mkdir(exist_ok=True)
    try:
        shutil.copy(checkpoint, joyvasa_folder / checkpoint.name)
        shutil.copy(work / "data" / "motion_template.pkl", joyvasa_folder / "motion_template.pkl")
        graph = _fast(_api_twin(STAGED))
        graph["4"]["inputs"].update(checkpoint=f"trained_here/{checkpoint.name}",
                                    motion_template="trained_here/motion_template.pkl")
        result = comfy.run_prompt(graph)
        assert result.status == "success", (result.error, comfy.log_tail())
        _check_video(_videos(comfy, result)["14"], _speech_frames(), (512, 512))
    finally:
        shutil.rmtree(joyvasa_folder, ignore_errors=True)
