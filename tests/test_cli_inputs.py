"""Bad input at the command line: one line on stderr and a non-zero exit, before any model loads.

No weights are needed: the loaders are replaced by functions that fail the test if called, so
each refusal is proved to come first. The model paths are dummy files (only their existence is
checked before loading)."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch
from PIL import Image

from joyvasa import cli, pipeline

ROOT = Path(__file__).resolve().parent.parent
VIDEO = ROOT / "example_inputs" / "joyvasa_head_tilt.mp4"


@pytest.fixture
def files(tmp_path, monkeypatch):
    """A photo, a speech clip, silence, dummy model paths; loaders that must not be reached."""
    photo = tmp_path / "face.png"
    Image.fromarray(np.full((64, 64, 3), 128, np.uint8)).save(photo)
    rate = 16000
    speech = tmp_path / "speech.wav"
    soundfile.write(speech, (0.3 * np.sin(2 * np.pi * 180 * np.arange(rate) / rate)).astype(np.float32), rate)
    silence = tmp_path / "silence.wav"
    soundfile.write(silence, np.zeros(rate, np.float32), rate)
    (tmp_path / "liveportrait").mkdir()
    for name in ("generator.pt", "template.pkl"):
        (tmp_path / name).write_bytes(b"stand-in")
    monkeypatch.setattr(pipeline, "load_liveportrait", lambda *a, **k: pytest.fail("LivePortrait was loaded"))
    monkeypatch.setattr(pipeline, "load_motion_generator", lambda *a, **k: pytest.fail("the generator was loaded"))
    return {"photo": photo, "speech": speech, "silence": silence, "folder": tmp_path,
            "models": ["--liveportrait", str(tmp_path / "liveportrait"), "--motion-generator",
                       str(tmp_path / "generator.pt"), "--template", str(tmp_path / "template.pkl")]}


def refused(capsys, argv, *words) -> str:
    """Runs the command line; it must exit non-zero with one line on stderr holding ``words``."""
    code = cli.main([str(a) for a in argv])
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert code != 0 and len(lines) == 1, err
    assert lines[0].startswith("error: ") and "Traceback" not in err
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


def animate(files, **changes):
    argv = {"--image": files["photo"], "--audio": files["speech"], "--out": files["folder"] / "talk.mp4", **changes}
    return [part for flag, value in argv.items() if value is not None for part in (flag, value)] + files["models"]


def test_a_missing_image_or_dub_video_is_named(files, capsys):
    refused(capsys, animate(files, **{"--image": files["folder"] / "nobody.png"}), "--image", "nobody.png",
            "no such file")
    refused(capsys, animate(files, **{"--image": None, "--dub-video": files["folder"] / "gone.mp4"}),
            "--dub-video", "gone.mp4", "no such file")
    refused(capsys, animate(files, **{"--audio": files["folder"] / "mute.wav"}), "--audio", "no such file")


def test_a_picture_or_a_non_video_given_as_dub_video_is_refused(files, capsys):
    refused(capsys, animate(files, **{"--image": None, "--dub-video": files["photo"]}), "is a picture", "--image")
    fake = files["folder"] / "notes.mp4"
    fake.write_text("not a video")
    refused(capsys, animate(files, **{"--image": None, "--dub-video": fake}), "notes.mp4", "is not a video")


def test_out_must_be_an_mp4_file_in_a_folder_that_exists(files, capsys):
    refused(capsys, animate(files, **{"--out": files["folder"]}), "is a folder", "talk.mp4")
    refused(capsys, animate(files, **{"--out": files["folder"] / "talk.avi"}), "must end in .mp4", ".avi")
    refused(capsys, animate(files, **{"--out": files["folder"] / "talk"}), "must end in .mp4")
    refused(capsys, animate(files, **{"--out": files["folder"] / "missing" / "talk.mp4"}), "does not exist")
    refused(capsys, animate(files, **{"--save-motion": files["folder"] / "motion.pt"}), "--save-motion",
            ".safetensors")


def test_a_device_this_torch_cannot_use_is_refused(files, capsys, monkeypatch):
    refused(capsys, animate(files) + ["--device", "gpu"], "--device 'gpu'", "cpu, cuda")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)  # as on a CPU build
    refused(capsys, animate(files) + ["--device", "cuda"], "--device cuda", "--device cpu")


def test_preview_only_with_a_dub_video_is_refused_not_a_silent_full_dub(files, capsys):
    refused(capsys, animate(files, **{"--image": None, "--dub-video": VIDEO}) + ["--preview-only"],
            "--preview-only", "--dub-video")


def test_flags_that_do_not_go_together_are_one_line(files, capsys):
    refused(capsys, animate(files, **{"--out": None}), "--out", "--save-motion")
    refused(capsys, animate(files, **{"--dub-video": VIDEO}), "not both")
    refused(capsys, animate(files, **{"--audio": None}), "--audio", "--motion")
    refused(capsys, animate(files, **{"--motion": files["folder"] / "none.safetensors"}), "--motion", "no such file")


def test_silent_audio_is_warned_about_before_anything_loads(files, capsys, monkeypatch):
    def stop(*args, **kwargs):
        raise ValueError("stopped at the first load")

    monkeypatch.setattr(pipeline, "load_liveportrait", stop)
    code = cli.main([str(a) for a in animate(files, **{"--audio": files["silence"]})])
    lines = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and lines[-1] == "error: stopped at the first load"
    assert lines[0] == f"warning: --audio '{files['silence']}' is silent (no sound at all): the mouth will not move."


def test_ctrl_c_is_one_line_exit_130_and_removes_the_partial_video(files, capsys, monkeypatch):
    out = files["folder"] / "talk.mp4"

    def interrupted_render(args, stage_options, progress, inputs):
        def batches():
            yield torch.rand(1, 64, 64, 3)
            raise KeyboardInterrupt  # Ctrl-C while rendering

        return pipeline.write_video(batches(), args.out, 25.0, audio=inputs["audio"])

    monkeypatch.setattr(cli, "run", interrupted_render)
    code = cli.main([str(a) for a in animate(files)])
    err = capsys.readouterr().err
    assert code == 130 == 128 + signal.SIGINT
    assert err.strip().splitlines() == ["interrupted: nothing was written (the partial video was removed)."]
    assert not [name for name in os.listdir(files["folder"]) if name.startswith("talk")]  # nor talk.partial.mp4


def test_models_are_found_in_the_surrounding_comfyui_or_the_download_command_is_said(files, capsys, monkeypatch,
                                                                                      tmp_path):
    from joyvasa import cli_inputs

    comfy = tmp_path / "ComfyUI"
    pack = comfy / "custom_nodes" / "ComfyUI-JoyVASA"
    pack.mkdir(parents=True)
    (comfy / "models").mkdir()
    monkeypatch.setattr(cli_inputs, "PACK_DIR", pack)
    bare = animate(files)[:6]  # no model flags
    line = refused(capsys, bare, "LivePortrait", str(comfy / "models"), "hf download KwaiVGI/LivePortrait")
    assert str(comfy / "models" / "liveportrait") in line
    (comfy / "models" / "liveportrait").mkdir()
    refused(capsys, bare, "motion generator", "hf download jdh-algo/JoyVASA", str(comfy / "models" / "joyvasa"))
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    monkeypatch.setattr(cli_inputs, "PACK_DIR", outside / "ComfyUI-JoyVASA")
    refused(capsys, bare, "--liveportrait DIR", "not inside ComfyUI/custom_nodes")


def test_ddim_with_steps_0_takes_the_declared_default():
    from joyvasa.options import DDIM_DEFAULT_STEPS, SampleOptions

    assert SampleOptions(sampler="ddim").sampling_settings()["steps"] == DDIM_DEFAULT_STEPS == 25
    assert SampleOptions(sampler="ddim", steps=10).sampling_settings()["steps"] == 10
    assert SampleOptions().sampling_settings()["steps"] is None  # ddpm: all of the model's steps
    assert f"0 = {DDIM_DEFAULT_STEPS}" in cli.build_parser().format_help()
