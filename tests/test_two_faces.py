"""Two faces in one picture: a render pasted onto another render's frames, the two voices mixed."""

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from joyvasa import pipeline
from joyvasa.audio.mix import mix_clips
from joyvasa.audio.waveform import AudioInputError
from joyvasa.face.align import similarity_from_rect
from joyvasa.face import FaceRect
from joyvasa.motion import Motion
from joyvasa.options import RenderOptions
from joyvasa.video.compose import ComposeInputError
from tests.tiny_renderer import tiny_renderer

OPTIONS = RenderOptions(stitching=False, driving_option="pose-friendly")
PHOTO = (96, 161)  # odd width: the render's frames are one column narrower


def _source(renderer, centre):
    """A Source over a flat photo whose face crop (128 px rendered) sits at ``centre``."""
    photo = torch.zeros(*PHOTO, 3)
    photo[..., 1] = 0.5
    rect = FaceRect(center=np.array(centre, float), size=40.0, ux=np.array([1.0, 0.0]), uy=np.array([0.0, 1.0]))
    m_o2c = similarity_from_rect(rect, dsize=128, rotate=False)[0]
    crop_256 = torch.full((1, 3, 256, 256), 0.5)
    info = renderer.extract_kp_info(crop_256)
    crop = SimpleNamespace(M_c2o=torch.as_tensor(np.linalg.inv(m_o2c), dtype=torch.float32), landmarks=None)
    return pipeline.Source(image=photo, crop=crop, feature_3d=renderer.extract_appearance(crop_256), kp_info=info,
                           x_s=info["x_s"])


def _motion(frames):
    t = torch.arange(frames, dtype=torch.float32)[:, None]
    return Motion(exp=0.03 * torch.sin(t)[:, :, None].expand(frames, 21, 3).clone(), scale=torch.ones(frames, 1),
                  t=torch.zeros(frames, 3), pitch=torch.zeros(frames, 1), yaw=3 * torch.sin(t),
                  roll=torch.zeros(frames, 1), fps=25.0)


def test_the_second_face_is_pasted_onto_the_first_render_and_both_faces_stay():
    renderer = tiny_renderer()
    left, right = _source(renderer, (40, 48)), _source(renderer, (120, 48))
    first = torch.cat(list(pipeline.render_frames(renderer, left, _motion(4), OPTIONS)))
    assert first.shape == (4, 96, 160, 3)
    both = torch.cat(list(pipeline.render_frames(renderer, right, _motion(4), OPTIONS, onto=first)))
    alone = torch.cat(list(pipeline.render_frames(renderer, right, _motion(4), OPTIONS)))
    assert both.shape == first.shape
    # Left half: the first render's face; right half: the second face, as when rendered alone.
    torch.testing.assert_close(both[:, :, :70], first[:, :, :70])
    torch.testing.assert_close(both[:, :, 90:], alone[:, :, 90:])
    assert not torch.allclose(first[:, :, :70], alone[:, :, :70])  # the first face did change the picture


@pytest.mark.parametrize("frames, size, fragment", [(3, (96, 160), "3 frames but the motion has 4"),
                                                    (4, (90, 160), "same photo")])
def test_frames_of_another_length_or_size_are_a_clear_error(frames, size, fragment):
    renderer = tiny_renderer()
    with pytest.raises(ComposeInputError, match=fragment):
        next(pipeline.render_frames(renderer, _source(renderer, (40, 48)), _motion(4), OPTIONS,
                                    onto=torch.zeros(frames, *size, 3)))


def test_two_voices_are_mixed_from_zero_at_the_higher_rate():
    a = torch.tensor([[0.5, 0.5, 0.0, 0.0]])
    b = torch.tensor([0.0, 0.0, 0.25, 0.25, 0.25, 0.25])
    mixed, rate = mix_clips([(a, 8000), (b, 8000)])
    assert rate == 8000
    torch.testing.assert_close(mixed, torch.tensor([[0.5, 0.5, 0.25, 0.25, 0.25, 0.25]]))
    mixed, rate = mix_clips([(torch.ones(2, 800) * 0.8, 8000), (torch.ones(1600) * 0.8, 16000)])
    assert rate == 16000 and mixed.shape == (2, 1600) and float(mixed.abs().max()) <= 1.0
    with pytest.raises(AudioInputError, match="other_audio input is empty"):
        mix_clips([(a, 8000), (torch.zeros(1, 0), 8000)], ["audio input", "other_audio input"])
