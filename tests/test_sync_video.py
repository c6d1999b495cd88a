"""Lip sync of whole videos: the face track cropped as syncnet_python crops it, the refusals
(no face, two faces), and ``python -m joyvasa.quality --sync`` (text, JSON, chart)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from joyvasa.quality.crops import NoFaceTrackError, face_track_crops, whole_frame_crops
from tests.recipe import syncnet_recipe_state_dict
from tests.video_files import astronaut_frames, faceless_video, talking_video


@pytest.fixture(scope="module")
def syncnet_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("syncnet") / "syncnet_v2.model"
    torch.save(syncnet_recipe_state_dict(), path)
    return path


EXAMPLES = Path(__file__).resolve().parents[1] / "example_inputs"


def test_one_face_is_tracked_and_cropped_square_with_room_below():
    frames = torch.from_numpy(astronaut_frames(16, 256)).float() / 255
    crops, track = face_track_crops(frames)
    assert crops.shape == (16, 224, 224, 3) and crops.dtype == torch.uint8
    assert track.start == 0 and track.stop == 16
    face_middle = crops[:, 60:160, 60:160].float().mean()
    assert face_middle > 100  # skin, not the grey padding nor the dark suit


def test_no_face_and_two_faces_are_refused_with_a_sentence():
    from PIL import Image

    gradient = torch.linspace(0, 1, 128)[None, :, None, None].expand(8, 128, 128, 3).contiguous()
    with pytest.raises(NoFaceTrackError, match="No face track"):
        face_track_crops(gradient)
    two = np.asarray(Image.open("example_inputs/joyvasa_two_faces.jpg").convert("RGB"))
    with pytest.raises(NoFaceTrackError, match="2 face tracks.*one speaker"):
        face_track_crops(torch.from_numpy(np.stack([two] * 6)).float() / 255)


def test_whole_frame_route_takes_the_centre_square():
    frames = torch.zeros(3, 100, 160, 3)
    frames[:, :, 30:130] = 1.0
    crops = whole_frame_crops(frames)
    assert crops.shape == (3, 224, 224, 3) and int(crops.min()) == 255


def test_cli_scores_a_video_as_text_json_and_chart(tmp_path, syncnet_file, capsys):
    from PIL import Image

    from joyvasa.quality import main

    video = talking_video(tmp_path / "talk.mp4", fps=25, seconds=0.8, size=256)
    chart = tmp_path / "sync.png"
    assert main(["--sync", str(video), "--syncnet", str(syncnet_file), "--chart", str(chart)]) == 0
    out = capsys.readouterr().out
    assert "LSE-C" in out and "LSE-D" in out and "offset" in out and "4.85 / LSE-D 13.53" in out
    assert f"chart written to {chart}" in out and "nan" not in out.lower()
    with Image.open(chart) as image:
        assert image.size[0] == 800
    assert main(["--sync", str(video), "--syncnet", str(syncnet_file), "--json", "--face", "whole"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["windows"] == 15 and len(result["confidence"]) == 15 and len(result["mean_dists"]) == 31
    assert {"lse_c", "lse_d", "offset", "offset_ms", "track"} <= set(result)


def test_cli_refusals_are_one_line(tmp_path, syncnet_file, capsys):
    from joyvasa.quality import main

    faceless = faceless_video(tmp_path / "none.mp4", fps=25, seconds=0.5, size=128)
    assert main(["--sync", str(faceless), "--syncnet", str(syncnet_file)]) == 2
    assert "No face track" in capsys.readouterr().err
    assert main(["--sync", str(faceless)]) == 2
    assert "syncnet_python" in capsys.readouterr().err
    assert main(["--sync", str(faceless), "--syncnet", str(tmp_path / "nowhere.model")]) == 2
    assert "nowhere.model" in capsys.readouterr().err


def test_render_cli_scores_what_it_wrote(tmp_path, syncnet_file, monkeypatch, capsys):
    from joyvasa import cli, cli_inputs

    video = talking_video(tmp_path / "talk.mp4", fps=25, seconds=0.5, size=128)
    monkeypatch.setattr(cli_inputs, "resolve_model_paths", lambda *a, **k: None)
    monkeypatch.setattr(cli, "read_inputs", lambda args: {})
    monkeypatch.setattr(cli, "run", lambda *a: {"path": str(video), "frames": 12, "fps": 25.0, "what": "",
                                                "precision": "fp32", "device": "cpu"})
    flags = ["--image", str(EXAMPLES / "joyvasa_astronaut.jpg"), "--audio", str(EXAMPLES / "joyvasa_speech.flac"),
             "--out", str(video), "--quiet"]
    assert cli.main([*flags, "--score-sync", str(syncnet_file)]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].startswith("wrote") and "LSE-C" in out
    assert cli.main([*flags, "--score-sync", str(tmp_path / "none.model")]) == 2
    err = capsys.readouterr().err
    assert "--score-sync" in err and "none.model" in err and len(err.strip().splitlines()) == 1


def test_the_nodes_route_scores_a_file_against_given_speech_and_frames_at_any_rate(tmp_path, syncnet_file):
    from joyvasa.quality import load_syncnet
    from joyvasa.quality.options import SyncOptions
    from joyvasa.quality.sync_report import score_clip

    model = load_syncnet(syncnet_file)
    video = talking_video(tmp_path / "talk.mp4", fps=25, seconds=0.4, size=96)
    speech = (torch.zeros(2, 48000 // 2), 48000)  # 0.5 s of silence at 48 kHz, stereo
    whole = SyncOptions(face="whole", vshift=2)
    from_file = score_clip(model, str(video), None, speech, whole)
    assert from_file["windows"] == 5 and from_file["track"] == (0, 9)
    frames = torch.from_numpy(astronaut_frames(5, 96))  # uint8 at 12.5 fps: 10 frames at 25
    from_frames = score_clip(model, frames, 12.5, speech, whole)
    assert from_frames["windows"] == 5
    with pytest.raises(ValueError, match="connect the audio"):
        score_clip(model, frames, 12.5, None, whole)
