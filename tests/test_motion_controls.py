"""Face controls on the motion (joyvasa.motion.controls through pipeline.edit_motion): the rows
each control moves, by how much and when; and that the rendered keypoints follow."""

import dataclasses

import pytest
import torch

from joyvasa import pipeline
from joyvasa.motion import Motion
from joyvasa.motion import controls
from joyvasa.options import EditOptions, OptionError, RenderOptions
from tests.test_motion_preview import RENDERER, _source

FPS = 25.0


def _motion(frames=250):
    t = torch.arange(frames, dtype=torch.float32)[:, None]
    generator = torch.Generator().manual_seed(1)
    return Motion(exp=0.002 * torch.randn(frames, 21, 3, generator=generator), scale=1 + 0.01 * torch.sin(t / 9),
                  t=0.02 * torch.cat([torch.sin(t / 8), torch.cos(t / 6), torch.zeros_like(t)], dim=1),
                  pitch=3 * torch.sin(t / 5), yaw=30 * torch.sin(t / 11), roll=4 * torch.sin(t / 4), fps=FPS)


def edit(motion, **settings):
    return pipeline.edit_motion(motion, EditOptions(**settings))


def rows_moved(before: Motion, after: Motion, atol=1e-7) -> set[int]:
    return set(torch.nonzero((after.exp - before.exp).abs().amax(dim=(0, 2)) > atol).flatten().tolist())


# -- head ---------------------------------------------------------------------------------------

def test_default_edit_changes_nothing():
    motion = _motion()
    assert edit(motion) is motion


def test_per_axis_amplitude_scales_each_angle_around_frame_0():
    motion = _motion()
    out = edit(motion, yaw_scale=0.5, pitch_scale=0.0)
    torch.testing.assert_close(out.yaw - out.yaw[0], 0.5 * (motion.yaw - motion.yaw[0]))
    torch.testing.assert_close(out.pitch, motion.pitch[:1].expand_as(motion.pitch))
    torch.testing.assert_close(out.roll, motion.roll)
    torch.testing.assert_close(out.t, motion.t) and torch.testing.assert_close(out.exp, motion.exp)


def test_soft_angle_limit_bends_only_large_angles_and_never_reaches_the_limit():
    motion = _motion()
    out = edit(motion, angle_limit=20.0)
    change, limited = motion.yaw - motion.yaw[0], out.yaw - out.yaw[0]
    small = change.abs() <= 10
    torch.testing.assert_close(limited[small], change[small])  # under half the limit: untouched
    assert limited.abs().max() < 20 and limited.abs().max() > 15  # the 30-degree swings bend under 20
    assert (torch.diff(limited[:, 0]).sign() == torch.diff(change[:, 0]).sign()).all()  # monotone, no clipping flats
    held = edit(motion, angle_limit=0.0)
    for name in ("pitch", "yaw", "roll"):
        assert torch.equal(getattr(held, name), getattr(held, name)[:1].expand(len(motion), 1))
    assert torch.isfinite(held.yaw).all()


def test_translation_hold_and_scale():
    motion = _motion()
    held = edit(motion, translation_scale=0.0)
    assert torch.equal(held.t, motion.t[:1].expand_as(motion.t)) and torch.equal(held.scale, motion.scale[:1].expand_as(motion.scale))
    torch.testing.assert_close(held.yaw, motion.yaw)
    double = edit(motion, translation_scale=2.0)
    torch.testing.assert_close(double.t - double.t[0], 2 * (motion.t - motion.t[0]))


def test_head_smoothing_calms_the_head_without_delay_and_leaves_the_face():
    motion = _motion()
    jitter = motion._edited(yaw=motion.yaw + torch.randn(len(motion), 1, generator=torch.Generator().manual_seed(2)))
    out = edit(jitter, head_smoothing=0.8)

    def accel(x):
        return (x[2:] - 2 * x[1:-1] + x[:-2]).pow(2).mean()

    assert accel(out.yaw) < 0.05 * accel(jitter.yaw)
    assert torch.equal(out.exp, jitter.exp)
    # Zero-phase: the slow swing keeps its timing (best lag 0).
    lags = {lag: float((out.yaw[20 + lag:200 + lag, 0] * motion.yaw[20:200, 0]).sum()) for lag in range(-4, 5)}
    assert max(lags, key=lags.get) == 0


# -- eyes ---------------------------------------------------------------------------------------

def test_lid_rows_close_at_each_scheduled_blink_and_nowhere_else():
    motion = _motion(frames=500)  # 20 s
    settings = dict(blinks_per_minute=20.0, blink_duration=0.3, blink_randomness=0.5, blink_seed=3)
    out = edit(motion, **settings)
    peaks = controls.blink_schedule(len(motion), FPS, per_minute=20.0, duration=0.3, randomness=0.5, seed=3)
    assert 4 <= len(peaks) <= 12  # about 20 per minute over 20 s
    assert rows_moved(motion, out) == set(controls.LID_ROWS)
    offset = out.exp - motion.exp
    upper = offset[:, 11, 1]
    torch.testing.assert_close(upper[peaks], torch.full((len(peaks),), controls.UPPER_LID_CLOSE))  # shut
    torch.testing.assert_close(offset[peaks, 13, 1], torch.full((len(peaks),), controls.LOWER_LID_CLOSE))
    torch.testing.assert_close(offset[:, 15], offset[:, 11]) and torch.testing.assert_close(offset[:, 16], offset[:, 13])
    near = torch.zeros(len(motion), dtype=torch.bool)
    for p in peaks.tolist():
        near[max(0, p - 4):p + 6] = True  # 0.4 x 0.3 s before, 0.6 x 0.3 s after, in frames
    assert (upper[~near] == 0).all() and (upper[near] >= 0).all()
    found = controls.count_blinks(out)  # the report finds them (to a frame: the generated lids jitter)
    assert len(found) == len(peaks) and (found - peaks).abs().max() <= 1
    # Seeded: the same seed the same blinks, another seed others.
    assert torch.equal(edit(motion, **settings).exp, out.exp)
    assert not torch.equal(edit(motion, **{**settings, "blink_seed": 4}).exp, out.exp)


def test_blink_schedule_edge_cases_give_sensible_motion():
    assert controls.blink_schedule(10, FPS, per_minute=1.0, duration=0.25, randomness=0.0, seed=0).numel() == 0
    regular = controls.blink_schedule(1500, FPS, per_minute=30.0, duration=0.25, randomness=0.0, seed=0)
    assert torch.equal(torch.diff(regular), torch.full((len(regular) - 1,), 50))  # a metronome every 2 s
    crowded = controls.blink_schedule(250, FPS, per_minute=60.0, duration=1.0, randomness=1.0, seed=5)
    assert (torch.diff(crowded) >= 37).all()  # never overlapping: at least 1.5 durations apart
    out = edit(_motion(frames=30), blinks_per_minute=60.0, blink_duration=1.0, blink_randomness=1.0)
    assert torch.isfinite(out.exp).all() and (out.exp - _motion(frames=30).exp)[:, 11, 1].max() <= controls.UPPER_LID_CLOSE


def test_eye_open_level_and_wink_close_the_lids_and_gaze_moves_the_pupils():
    motion = _motion(frames=50)
    shut = edit(motion, eye_open=0.0)
    assert rows_moved(motion, shut) == set(controls.LID_ROWS)
    torch.testing.assert_close((shut.exp - motion.exp)[:, 11, 1], torch.full((50,), controls.UPPER_LID_CLOSE))
    wide = edit(motion, eye_open=1.3)
    assert ((wide.exp - motion.exp)[:, 11, 1] < 0).all()
    wink = edit(motion, wink=1.0)
    assert rows_moved(motion, wink) == set(controls.EYE_A)
    assert rows_moved(motion, edit(motion, wink=-1.0)) == set(controls.EYE_B)
    gaze = edit(motion, gaze_x=1.0)
    offset = gaze.exp - motion.exp
    assert rows_moved(motion, gaze) == {11, 15}
    assert offset[0, 15, 0] == pytest.approx(controls.GAZE_X) and offset[0, 11, 0] == pytest.approx(0.7 * controls.GAZE_X)
    up = edit(motion, gaze_y=1.0).exp - motion.exp
    assert (up[:, list(controls.LID_ROWS), 1] < 0).all()  # the eyes look up: rows move up (-y)


# -- sliders ------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["smile", "brows", "aaa", "eee", "woo"])
def test_each_slider_moves_its_rows_by_its_direction(name):
    motion = _motion(frames=40)
    out = edit(motion, **{name: 1.0})
    expected = {row for row, vector in controls.SLIDER_ROWS[name].items() if any(vector)}
    assert rows_moved(motion, out) == expected
    for row, vector in controls.SLIDER_ROWS[name].items():
        torch.testing.assert_close((out.exp - motion.exp)[:, row], torch.tensor(vector).expand(40, 3))


def test_frowning_brows_draw_together():
    motion = _motion(frames=10)
    offset = edit(motion, brows=-1.0).exp - motion.exp
    assert offset[0, 1, 0] > 0 > offset[0, 2, 0] and rows_moved(motion, edit(motion, brows=-1.0)) == {1, 2}


def test_sliders_ease_in_and_out_over_their_time_range():
    motion = _motion(frames=250)  # 10 s
    out = edit(motion, smile=1.0, slider_start=2.0, slider_end=8.0, slider_ease=1.0)
    level = (out.exp - motion.exp)[:, 14, 1] / controls.SLIDER_ROWS["smile"][14][1]
    assert (level[:50] == 0).all() and (level[200:] == 0).all()  # before 2 s, from 8 s
    torch.testing.assert_close(level[75:175], torch.ones(100))  # full between 3 s and 7 s
    assert 0 < level[62] < 1 and (torch.diff(level[50:76]) >= 0).all()  # easing in
    assert (torch.diff(level[175:201]) <= 0).all()
    # constant (no range, no ease): the same offset on every frame
    constant = edit(motion, smile=0.5).exp - motion.exp
    torch.testing.assert_close(constant[:, 14, 1], torch.full((250,), 0.5 * -0.020))


def test_extremes_stay_finite():
    motion = _motion(frames=60)
    fields = {f.name: f for f in dataclasses.fields(EditOptions)}
    for bound in ("min", "max"):
        settings = {name: fields[name].metadata[bound] for name in controls.SLIDERS + (
            "eye_open", "gaze_x", "gaze_y", "pitch_scale", "yaw_scale", "roll_scale", "angle_limit",
            "translation_scale", "head_smoothing", "blinks_per_minute", "blink_duration")}
        out = edit(motion, slider_ease=60.0, slider_end=3600.0, **settings)
        for name in Motion._TENSORS:
            assert torch.isfinite(getattr(out, name)).all(), (bound, name)


def test_bad_settings_are_named():
    with pytest.raises(OptionError, match="angle_limit is nan"):
        EditOptions(angle_limit=float("nan"))
    with pytest.raises(OptionError, match=r"blinks_per_minute = 100 is out of range \(0 to 60\)"):
        EditOptions(blinks_per_minute=100)
    with pytest.raises(OptionError, match="smile is inf"):
        EditOptions(smile=float("inf"))


# -- the renderer sees the offsets ----------------------------------------------------------------

@pytest.mark.parametrize("driving_option", ["expression-friendly", "pose-friendly"])
def test_offsets_move_the_rendered_keypoints_from_the_first_frame_on(driving_option):
    source, motion = _source(), _motion(frames=20)
    options = RenderOptions(stitching=False, driving_option=driving_option)
    before = pipeline.driving_keypoints(RENDERER, source, motion, options)
    gazed = pipeline.driving_keypoints(RENDERER, source, edit(motion, gaze_x=1.0), options)
    moved = (gazed - before).abs().amax(dim=2)  # (N, 21)
    assert (moved[:, [11, 15]] > 1e-3).all()  # every frame, the first included
    others = [k for k in range(21) if k not in (11, 15)]
    assert moved[:, others].max() < 1e-5
    smiled = pipeline.driving_keypoints(RENDERER, source, edit(motion, smile=1.0), options)  # lip rows too
    assert ((smiled - before).abs().amax(dim=2)[:, 14] > 1e-3).all()


def test_expression_scale_after_controls_keeps_the_reference_and_files_keep_it(tmp_path):
    motion = _motion(frames=20)
    out = edit(motion, gaze_x=1.0)
    assert torch.equal(out.exp_reference, motion.exp[:1])
    out.save(tmp_path / "m.safetensors")
    loaded = Motion.load(tmp_path / "m.safetensors")
    assert torch.equal(loaded.exp_reference, out.exp_reference) and torch.equal(loaded.exp, out.exp)
    still = out.scale_expression(0.0)  # a frozen face keeps the gaze offset, measured from the reference
    torch.testing.assert_close(still.exp, out.exp_reference.expand(20, 21, 3))


# -- the preview shows the controls --------------------------------------------------------------

def test_preview_draws_the_lids_and_reads_out_eyes_and_gaze():
    from joyvasa.video import preview

    source, motion = _source(), _motion(frames=30)
    options = RenderOptions(stitching=False)
    shut = edit(motion, eye_open=0.0, gaze_x=0.5)
    eyes, gaze = controls.eye_state(shut)
    base_eyes, base_gaze = controls.eye_state(motion)
    torch.testing.assert_close(eyes - base_eyes, torch.full((30,), -1.0))  # the readout: 100 % less open
    torch.testing.assert_close(gaze[:, 0] - base_gaze[:, 0], torch.full((30,), 0.5))
    frames = pipeline.preview_frames(RENDERER, source, shut, options, size=512)
    points = preview.keypoint_pixels(pipeline.driving_keypoints(RENDERER, source, shut, options), 512)
    pixels = (frames * 255).round().to(torch.uint8)
    hits = 0
    for upper, lower in (controls.EYE_A, controls.EYE_B):  # the lid line, a third of the way along
        x, y = (points[0, upper] * 2 / 3 + points[0, lower] / 3).round().long().tolist()
        window = pixels[0, y - 1:y + 2, x - 1:x + 2].reshape(-1, 3)
        hits += any(tuple(p) == preview.EYE_COLOR for p in window.tolist())
    assert hits == 2


def test_cli_flags_carry_the_controls_and_the_calm_preset(capsys):
    from joyvasa.cli import build_parser, main
    from joyvasa.options import StageOptions

    required = ["--image", "a", "--audio", "b", "--out", "c", "--liveportrait", "d", "--motion-generator", "e",
                "--template", "f"]
    values = vars(build_parser().parse_args(required + ["--yaw-scale", "0.5", "--blinks-per-minute", "12",
                                                        "--gaze-x", "-0.3", "--smile", "0.4"]))
    edit_options = StageOptions.from_values(values).edit
    assert (edit_options.yaw_scale, edit_options.blinks_per_minute, edit_options.gaze_x, edit_options.smile) == (
        0.5, 12.0, -0.3, 0.4)
    calm = StageOptions.from_values(vars(build_parser().parse_args(required + ["--preset", "calm"])))
    assert calm.edit.resolved().blinks_per_minute == 15.0 and calm.sample.resolved().cfg_scale == 2.0
    assert main(required + ["--smile", "nan"]) == 2
    assert "smile is nan" in capsys.readouterr().err
