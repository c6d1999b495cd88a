"""Training data at scale: clip files read lazily (int16 audio; old float32 files still load),
a sampler whose state does not grow with the audio, batches that do not depend on the number
of DataLoader workers, and a truncated clip named in one sentence."""

import pickle

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from joyvasa.data import ClipFile, ClipFormatError, clip_path, read_clip, write_clip
from joyvasa.motion import MotionTemplate
from joyvasa.training.dataset import SAMPLES_PER_FRAME, ClipSampler, training_batches
from tests.training_data import DEVICE, synthetic_clip, write_synthetic_dataset

N_MOTIONS = 25


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("scale_data")
    write_synthetic_dataset(root, n_train=4, n_val=1, frames=80)
    return root


def sampler_for(data_dir, ids=None):
    template = MotionTemplate.load(data_dir / "motion_template.pkl")
    ids = ids or [f"synth_{k:03d}" for k in range(4)]
    return ClipSampler(data_dir, ids, template, N_MOTIONS)


def test_new_clips_store_int16_audio_and_read_slices(tmp_path):
    motion, audio, _ = synthetic_clip(40, seed=3)
    path = clip_path(tmp_path, "a")
    write_clip(path, motion, audio, source="a.mp4")
    with safe_open(str(path), "pt") as handle:
        assert handle.get_slice("audio").get_dtype() == "I16"
        assert handle.get_slice("exp").get_dtype() == "F32"
    clip = ClipFile(path)
    assert (clip.frames, clip.samples) == (40, audio.numel())
    whole_motion, whole_audio = read_clip(path)
    torch.testing.assert_close(whole_audio, audio, rtol=0, atol=0.5 / 32768)
    part = clip.motion(10, 20)
    torch.testing.assert_close(part.exp, whole_motion.exp[10:20], rtol=0, atol=0)
    torch.testing.assert_close(part.yaw, whole_motion.yaw[10:20], rtol=0, atol=0)
    torch.testing.assert_close(clip.audio(640, 1280), whole_audio[640:1280], rtol=0, atol=0)
    assert clip.audio(audio.numel() - 5, audio.numel() + 100).numel() == 5  # cut at the end


def test_old_float32_clip_files_still_load(tmp_path):
    motion, audio, _ = synthetic_clip(30, seed=4)
    n = len(motion)
    tensors = {"exp": motion.exp.reshape(n, 63), "scale": motion.scale, "t": motion.t, "pitch": motion.pitch,
               "yaw": motion.yaw, "roll": motion.roll, "audio": audio.float()}
    path = clip_path(tmp_path, "old")
    path.parent.mkdir(parents=True)
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(path),
              metadata={"fps": "25", "sample_rate": "16000", "source": "old.mp4"})
    back_motion, back_audio = read_clip(path)
    torch.testing.assert_close(back_audio, audio, rtol=0, atol=0)  # float32 exactly
    torch.testing.assert_close(back_motion.exp, motion.exp, rtol=0, atol=0)


def test_truncated_clip_is_named_without_a_traceback(data_dir, tmp_path, capsys):
    import shutil

    from joyvasa.training.cli import main as train_main
    from tests.training_data import tiny_audio_encoder

    broken = tmp_path / "data"
    shutil.copytree(data_dir, broken)
    path = clip_path(broken, "synth_002")
    path.write_bytes(path.read_bytes()[:-1000])
    with pytest.raises(ClipFormatError, match="synth_002.safetensors.*truncated"):
        sampler_for(broken)
    encoder_dir = tmp_path / "encoder"
    tiny_audio_encoder().save_pretrained(encoder_dir)
    code = train_main(["--device", DEVICE, "--data", str(broken), "--out", str(tmp_path / "run"), "--size", "tiny",
                       "--audio-encoder", str(encoder_dir), "--max-steps", "1", "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2 and "synth_002.safetensors" in err and "Traceback" not in err


def test_train_command_in_a_log_prints_plain_progress_lines_and_its_final_line(data_dir, tmp_path, capsys):
    from joyvasa.training.cli import main as train_main
    from tests.training_data import tiny_audio_encoder

    encoder_dir = tmp_path / "encoder"
    tiny_audio_encoder().save_pretrained(encoder_dir)
    capsys.readouterr()  # transformers' own bar while saving the encoder
    code = train_main(["--device", DEVICE, "--data", str(data_dir), "--out", str(tmp_path / "run"), "--size", "tiny",
                       "--audio-encoder", str(encoder_dir), "--max-steps", "2", "--batch-size", "2",
                       "--n-motions", "25", "--n-prev-motions", "5", "--audio-training", "frozen"])
    out, err = capsys.readouterr()
    assert code == 0, err
    lines = err.splitlines()  # stderr is captured, not a terminal: plain lines
    assert "\r" not in err and "train: started (2 steps)" in lines
    done = [line for line in lines if line.startswith("train: 2/2 steps, ")]
    assert len(done) == 1 and " loss " in done[0] and done[0].endswith("(done)")
    final = out.splitlines()
    assert len(final) == 1 and final[0].startswith("last checkpoint: ") and final[0].endswith(" wall")
    assert "step_0000002.pt" in final[0]


def test_sampler_state_does_not_hold_the_audio(data_dir, tmp_path):
    """What a process (and every DataLoader worker) holds is an index: bytes per clip, not per sample."""
    small = sampler_for(data_dir)
    audio_bytes = sum(ClipFile(c.path).samples * 2 for c in small.clips)
    size = len(pickle.dumps(small))
    assert size < 0.1 * audio_bytes, (size, audio_bytes)
    # Ten times the clips (the same files listed again) grow it by an index entry each.
    many = sampler_for(data_dir, [f"synth_{k % 4:03d}" for k in range(40)])
    per_clip = (len(pickle.dumps(many)) - size) / 36
    assert per_clip < 400, per_clip
    tensors = [v for v in vars(many).values() if isinstance(v, torch.Tensor)]
    assert all(t.numel() <= len(many) for t in tensors)


def test_crop_matches_the_whole_clip(data_dir):
    sampler = sampler_for(data_dir)
    template = MotionTemplate.load(data_dir / "motion_template.pkl")
    motion, audio = read_clip(clip_path(data_dir, "synth_001"))
    crop = sampler.crop(1, 20, None)
    expected = template.encode(motion)[20:20 + 2 * N_MOTIONS]
    assert crop["valid_frames"] == 50
    torch.testing.assert_close(crop["motion"], expected)
    torch.testing.assert_close(crop["audio"], audio[20 * SAMPLES_PER_FRAME:70 * SAMPLES_PER_FRAME])
    tail = sampler.crop(1, 60, None)  # 20 frames left of 80: padded and masked
    assert tail["valid_frames"] == 20 and tail["motion"][20:].abs().sum() == 0
    assert tail["audio"][20 * SAMPLES_PER_FRAME:].abs().sum() == 0


def test_batches_do_not_depend_on_workers_or_where_the_run_starts(data_dir):
    sampler = sampler_for(data_dir)
    in_process = list(training_batches(sampler, 3, seed=5, rank=0, first=0, stop=4, workers=0))
    resumed = list(training_batches(sampler, 3, seed=5, rank=0, first=2, stop=4, workers=0))
    workers = list(training_batches(sampler, 3, seed=5, rank=0, first=0, stop=4, workers=2))
    other_rank = sampler.batch(0, 3, seed=5, rank=1)
    assert len(workers) == 4
    for a, b in zip(in_process, workers):
        for key in a:
            torch.testing.assert_close(a[key], b[key], rtol=0, atol=0)
    for a, b in zip(in_process[2:], resumed):
        torch.testing.assert_close(a["motion"], b["motion"], rtol=0, atol=0)
    assert not torch.equal(in_process[0]["motion"], in_process[1]["motion"])
    assert not torch.equal(in_process[0]["motion"], other_rank["motion"])
