import av
import numpy as np
import pytest
import torch

from joyvasa.video.writing import VideoWriter


def _probe(path):
    with av.open(str(path)) as container:
        video = container.streams.video[0]
        audio = container.streams.audio[0] if container.streams.audio else None
        frames = sum(1 for _ in container.decode(video=0))
        return {
            "codec": video.codec_context.name,
            "size": (video.height, video.width),
            "frames": frames,
            "audio_codec": audio.codec_context.name if audio else None,
            "audio_rate": audio.rate if audio else None,
        }


def test_streams_batches_with_audio_into_h264_aac(tmp_path):
    rate = 16000
    tone = 0.2 * np.sin(2 * np.pi * 220 * np.arange(rate * 2) / rate).astype(np.float32)
    path = tmp_path / "out.mp4"
    with VideoWriter(path, fps=25, audio=(torch.from_numpy(tone), rate)) as writer:
        for start in range(0, 50, 16):
            writer.write(torch.rand(min(16, 50 - start), 64, 80, 3))
    info = _probe(path)
    assert info == {"codec": "h264", "size": (64, 80), "frames": 50,
                    "audio_codec": "aac", "audio_rate": rate}


def test_odd_sizes_lose_one_row_and_column(tmp_path):
    path = tmp_path / "odd.mp4"
    with VideoWriter(path, fps=10) as writer:
        writer.write(np.zeros((3, 33, 47, 3), dtype=np.uint8))
    assert _probe(path)["size"] == (32, 46)
    assert _probe(path)["audio_codec"] is None


def test_stereo_comfy_audio_and_size_change_error(tmp_path):
    audio = torch.zeros(1, 2, 8000)
    writer = VideoWriter(tmp_path / "s.mp4", fps=8, audio=(audio, 8000))
    writer.write(torch.rand(2, 16, 16, 3))
    with pytest.raises(ValueError, match="Frame size changed"):
        writer.write(torch.rand(1, 32, 16, 3))
    writer.close()
    assert _probe(tmp_path / "s.mp4")["frames"] == 2
