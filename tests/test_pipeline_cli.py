"""End to end through the command line: photo + speech -> .mp4, synthetic weights of the real sizes."""

import os
import shutil
import subprocess
import sys

import av
import numpy as np
import pytest
import soundfile
import torch
import skimage

from joyvasa import pipeline
from joyvasa.cli import main
from joyvasa.options import RenderOptions, SampleOptions, SourceOptions
from tests import liveportrait_files, motion_files


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cli")
    photo = folder / "astronaut.png"
    shutil.copy(os.path.join(os.path.dirname(skimage.__file__), "data", "astronaut.png"), photo)
    rate = 22050
    t = np.arange(int(rate * 0.5)) / rate  # 0.5 s of a voiced-like tone
    speech = folder / "speech.wav"
    soundfile.write(speech, (0.3 * np.sin(2 * np.pi * 180 * t)).astype(np.float32), rate)
    checkpoint, template = motion_files.official_files()
    return {"photo": photo, "speech": speech, "checkpoint": checkpoint, "template": template,
            "liveportrait": liveportrait_files.weights_dir("kijai"), "folder": folder}


def test_cli_reports_a_photo_without_a_face_as_a_sentence(inputs, capsys):
    coffee = os.path.join(os.path.dirname(skimage.__file__), "data", "coffee.png")
    code = main([
        "--image", coffee, "--audio", str(inputs["speech"]), "--out", str(inputs["folder"] / "x.mp4"),
        "--liveportrait", str(inputs["liveportrait"]), "--motion-generator", str(inputs["checkpoint"]),
        "--template", str(inputs["template"]), "--fps", "4", "--sampler", "ddim", "--steps", "2",
    ])
    assert code == 2
    err = capsys.readouterr().err
    assert "error:" in err and "bbox" in err and "Traceback" not in err


class _ExtractorsStandIn:
    """prepare_source's view of a renderer: only the two extractors (crop logic under test)."""

    lip_retargeting = None

    def extract_appearance(self, crop):
        return torch.zeros(1, 32, 16, 64, 64)

    def extract_kp_info(self, crop):
        return {"x_s": torch.zeros(1, 21, 3)}


BBOX = SourceOptions(detector="bbox")


def test_prepare_source_takes_a_mask_batch_of_one_and_refuses_several_portraits():
    photo = torch.from_numpy(skimage.data.astronaut().astype(np.float32) / 255.0)[None]  # (1, H, W, 3)
    mask = torch.zeros(1, 512, 512)
    mask[0, 40:210, 150:290] = 1.0  # the astronaut's face
    source = pipeline.prepare_source(_ExtractorsStandIn(), photo, BBOX, mask=mask)
    assert tuple(source.crop.crop_256.shape) == (256, 256, 3)
    with pytest.raises(ValueError, match="2 masks"):
        pipeline.prepare_source(_ExtractorsStandIn(), photo, BBOX, mask=torch.zeros(2, 512, 512))
    with pytest.raises(ValueError, match="one portrait per run"):
        pipeline.prepare_source(_ExtractorsStandIn(), photo.expand(2, -1, -1, -1), BBOX)


def test_big_photos_are_shrunk_to_max_side_with_their_face_box():
    smooth = torch.nn.functional.interpolate(torch.rand(1, 3, 30, 52, generator=torch.Generator().manual_seed(0)),
                                             size=(1500, 2600), mode="bilinear")
    photo = smooth[0].permute(1, 2, 0).contiguous()  # a smooth photo: shrinking it loses nothing visible
    box = (1300.0, 700.0, 1560.0, 1000.0)
    source = pipeline.prepare_source(_ExtractorsStandIn(), photo, BBOX, face_box=box)
    assert tuple(source.image.shape) == (738, 1280, 3)  # long side 1280, aspect kept
    full = pipeline.prepare_source(_ExtractorsStandIn(), photo, BBOX.replace(max_side=0), face_box=box)
    assert tuple(full.image.shape) == (1500, 2600, 3)
    # The same face is cropped either way: the box was scaled with the photo.
    assert (source.crop.crop_256 - full.crop.crop_256).abs().mean() < 0.01


def test_cli_flags_are_the_option_fields_with_their_defaults_and_checks(capsys):
    from joyvasa.cli import build_parser

    required = ["--image", "a", "--audio", "b", "--out", "c", "--liveportrait", "d", "--motion-generator", "e",
                "--template", "f"]
    values = vars(build_parser().parse_args(required))
    assert RenderOptions.from_values(values) == RenderOptions()
    assert SourceOptions.from_values(values) == SourceOptions()
    values = vars(build_parser().parse_args(required + ["--preset", "upstream_cli", "--no-stitching",
                                                        "--region", "lip", "--crop-scale", "2.0"]))
    assert RenderOptions.from_values(values).resolved().driving_multiplier == pytest.approx(1.1)
    assert RenderOptions.from_values(values).region == "lip"
    assert SampleOptions.from_values(values).resolved().cfg_scale == pytest.approx(2.8)
    assert SourceOptions.from_values(values).crop_scale == 2.0
    assert main(required + ["--cfg-scale", "nan"]) == 2
    assert "cfg_scale is nan" in capsys.readouterr().err


def _run_piped(inputs, out, *extra):
    """``python -m joyvasa`` in a child process, stdout and stderr pipes (as in a CI log)."""
    argv = [sys.executable, "-m", "joyvasa", "--image", str(inputs["photo"]), "--audio", str(inputs["speech"]),
            "--out", str(out), "--liveportrait", str(inputs["liveportrait"]),
            "--motion-generator", str(inputs["checkpoint"]), "--template", str(inputs["template"]),
            "--fps", "4", "--sampler", "ddim", "--steps", "3", *extra]
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    return subprocess.run(argv, cwd=root, capture_output=True, text=True, timeout=600)


def _check_final_line(stdout, out, what=None):
    lines = stdout.splitlines()
    assert len(lines) == 1, stdout
    fields = lines[0].split(", ")
    assert fields[0] == f"wrote {out}" + (f" ({what})" if what else "") and fields[1] == "2 frames" and fields[2] == "0.50 s at 4 fps"
    assert fields[3].endswith(" wall") and fields[4].endswith(" s/frame") and fields[5] == "fp32 on cpu"
    clock = fields[3].split()[0]  # '12.3 s wall' or '1:15 wall'
    wall = sum(float(part) * 60 ** i for i, part in enumerate(reversed(clock.split(":"))))
    assert float(fields[4].split()[0]) == pytest.approx(wall / 2, abs=0.3)


def test_cli_writes_h264_aac_and_logs_plain_stage_lines_then_the_final_line(inputs):
    out = inputs["folder"] / "talk.mp4"
    done = _run_piped(inputs, out)
    assert done.returncode == 0, done.stderr
    with av.open(str(out)) as container:
        video, audio = container.streams.video[0], container.streams.audio[0]
        assert video.codec_context.name == "h264" and audio.codec_context.name == "aac"
        assert audio.codec_context.sample_rate == 22050  # the input's own rate, not the 16 kHz model input
        assert (video.width, video.height) == (512, 512)  # astronaut.png is 512x512: pasted back
        assert sum(1 for _ in container.decode(video=0)) == 2  # 4 fps x 0.5 s
    # stderr is a pipe: plain lines, no bar redrawn with carriage returns
    assert "\r" not in done.stderr
    lines = [line for line in done.stderr.splitlines() if ": " in line]
    starts = [line.split(": ")[0] for line in lines if ": started" in line]
    assert starts == ["load liveportrait", "load motion generator", "source", "audio", "motion", "render"]
    assert "source: started (3 steps)" in lines and "render: started (2 frames)" in lines
    ends = {line.split(": ")[0]: line for line in lines if line.endswith("(done)")}
    assert set(ends) == set(starts)  # each stage: one start line, one end line
    assert ends["render"].startswith("render: 2/2 frames, ") and "elapsed" in ends["render"]
    assert ends["motion"].startswith("motion: 3/3 steps, ")  # ddim 3 steps, one window
    _check_final_line(done.stdout, out)


def test_cli_preview_only_quiet_writes_the_preview_and_prints_only_the_final_line(inputs):
    out = inputs["folder"] / "preview.mp4"
    done = _run_piped(inputs, out, "--preview-only", "--quiet")
    assert done.returncode == 0, done.stderr
    with av.open(str(out)) as container:
        assert container.streams.audio and container.streams.video
        assert sum(1 for _ in container.decode(video=0)) == 2  # 4 fps x 0.5 s, no render
    assert not [line for line in done.stderr.splitlines() if ": started" in line or "(done)" in line]
    _check_final_line(done.stdout, out, what="motion preview")
