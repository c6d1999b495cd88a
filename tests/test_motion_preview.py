"""Motion preview: the render's own driving keypoints drawn over the crop, milliseconds per frame."""

import numpy as np
import pytest
import torch

from joyvasa import pipeline
from joyvasa.bench.controls import preview_renderer_and_source
from joyvasa.liveportrait.keypoints import LIP_KEYPOINT_INDICES
from joyvasa.motion import Motion
from joyvasa.options import RenderOptions, StageOptions
from joyvasa.pipeline import driving_keypoints
from joyvasa.video import preview as motion_preview

NO_STITCHING = RenderOptions(stitching=False)


def _source():
    return preview_renderer_and_source()[1]


def _motion(frames=40, fps=25.0):
    t = torch.arange(frames, dtype=torch.float32)[:, None]
    return Motion(exp=0.02 * torch.sin(t / 3)[:, :, None].expand(frames, 21, 3).clone(), scale=torch.ones(frames, 1),
                  t=torch.zeros(frames, 3), pitch=2 * torch.sin(t / 5), yaw=10 * torch.sin(t / 7),
                  roll=torch.zeros(frames, 1), fps=fps)


RENDERER = preview_renderer_and_source()[0]  # what the preview reads, without networks


def test_keypoints_span_the_crop_as_the_warping_grid_does():
    corners = torch.tensor([[-1.0, -1.0, 0.0], [1.0, 1.0, 0.0], [0.0, 0.0, 0.0]])
    assert motion_preview.keypoint_pixels(corners, 512).tolist() == [[0.0, 0.0], [511.0, 511.0], [255.5, 255.5]]


def test_preview_draws_the_renders_driving_keypoints_at_their_pixels():
    source, motion = _source(), _motion()
    frames = pipeline.preview_frames(RENDERER, source, motion, NO_STITCHING, size=512)
    assert frames.shape == (len(motion), 512, 512, 3) and frames.dtype == torch.float32
    assert 0.0 <= frames.min() and frames.max() <= 1.0
    expected = motion_preview.keypoint_pixels(driving_keypoints(RENDERER, source, motion, NO_STITCHING), 512)
    pixels = (frames * 255).round().to(torch.uint8)
    for i in (0, len(motion) // 2, len(motion) - 1):
        for k, (x, y) in enumerate(expected[i].round().long().tolist()):
            color = motion_preview.LIP_COLOR if k in LIP_KEYPOINT_INDICES else motion_preview.KEYPOINT_COLOR
            assert tuple(pixels[i, y, x].tolist()) == color, (i, k)
    # The head turns (yaw), so the keypoints move between frames.
    assert (expected[0] - expected[len(motion) // 2]).abs().max() > 2.0


def test_pose_readout_and_head_axes_follow_the_motion():
    source, motion = _source(), _motion()
    angles = motion_preview.pose_change(motion)
    assert torch.allclose(angles[:, 1], motion.yaw[:, 0] - motion.yaw[0, 0])
    rotations = motion_preview.head_rotations(source, motion, "all")
    assert torch.allclose(rotations[0], source.kp_info["R"][0], atol=1e-6)
    assert not torch.allclose(rotations[10], rotations[0], atol=1e-3)
    held = motion_preview.head_rotations(source, motion, "lip")  # Render holds the head there
    assert torch.allclose(held, source.kp_info["R"].expand(len(motion), 3, 3))


def test_preview_reports_every_frame():
    # Its cost (milliseconds per frame) is printed by python -m joyvasa.bench.controls, not timed here.
    source, motion = _source(), _motion(frames=30)
    seen = []
    frames = pipeline.preview_frames(RENDERER, source, motion, NO_STITCHING, size=256,
                                     callback=lambda done, total: seen.append((done, total)))
    assert len(frames) == 30 and seen[0] == (1, 30) and seen[-1] == (30, 30)


def test_bad_size_is_a_clear_error():
    with pytest.raises(ValueError, match="size must be one of"):
        pipeline.preview_frames(RENDERER, _source(), _motion(), NO_STITCHING, size=300)


def test_preview_video_has_every_frame_and_the_audio(tmp_path):
    import av

    motion = _motion(frames=10, fps=10.0)
    audio = (torch.sin(torch.arange(16000) / 10.0)[None] * 0.3, 16000)
    result = pipeline.write_preview_video(RENDERER, _source(), motion, tmp_path / "preview.mp4", audio=audio,
                                                options=NO_STITCHING, size=256)
    assert result["frames"] == 10
    with av.open(str(tmp_path / "preview.mp4")) as container:
        assert container.streams.audio
        decoded = list(container.decode(video=0))
        assert len(decoded) == 10 and (decoded[0].width, decoded[0].height) == (256, 256)
        assert np.asarray(decoded[0].to_ndarray(format="rgb24")).mean() > 20


def test_preview_video_runs_the_stages_up_to_the_motion_then_draws(tmp_path, monkeypatch):
    """The --preview-only path: source, audio, motion, edit; the drawing instead of the render."""
    import av

    from joyvasa import pipeline
    from joyvasa.pipeline import stages as chained  # where source_and_motion finds the stages

    calls = []
    motion = _motion(frames=8, fps=8.0)
    monkeypatch.setattr(chained, "prepare_source", lambda *a, **k: calls.append("source") or _source())
    monkeypatch.setattr(chained, "encode_audio", lambda *a, **k: calls.append("audio") or "features")
    monkeypatch.setattr(chained, "sample_motion", lambda *a, **k: calls.append("motion") or motion)
    monkeypatch.setattr(chained, "render_frames", lambda *a, **k: pytest.fail("--preview-only must not render"))
    stages = []
    result = pipeline.preview_video(
        RENDERER, None, torch.zeros(64, 64, 3), torch.zeros(1, 16000), 16000, tmp_path / "p.mp4",
        StageOptions(render=NO_STITCHING), size=256, progress=lambda stage, done, total: stages.append(stage))
    assert calls == ["source", "audio", "motion"] and result["frames"] == 8
    assert stages and set(stages) == {"preview"}  # the stand-ins above report nothing themselves
    with av.open(str(tmp_path / "p.mp4")) as container:
        assert container.streams.audio and len(list(container.decode(video=0))) == 8
