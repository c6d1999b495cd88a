"""Resume gives the same weights as an uninterrupted run; the CLI refuses a run without an encoder;
a checkpoint from --init keeps the released args readable; DDP (gloo, 2 processes) runs."""

import os

import pytest
import torch

from joyvasa.training.cli import main as train_main
from joyvasa.training import TrainConfig, train
from joyvasa.training.checkpointing import last_checkpoint
from tests.training_data import DEVICE, tiny_audio_encoder, write_synthetic_dataset


def config(steps, **changes):
    base = dict(size="tiny", n_motions=25, n_prev_motions=5, batch_size=4, max_steps=steps, warmup_steps=2,
                lr=1e-3, audio_training="finetune", val_every=3, save_every=3, log_every=1, bf16=False, ema_decay=0.9)
    return TrainConfig(**{**base, **changes})


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("resume_data")
    write_synthetic_dataset(root, n_train=4, n_val=1, frames=60)
    return root


def _log_without_seconds(run_dir):
    lines = (run_dir / "log.csv").read_text().splitlines()
    header = lines[0].split(",")
    timed = {header.index("seconds"), header.index("samples_per_s")}  # wall-clock columns
    return [[cell for i, cell in enumerate(line.split(",")) if i not in timed] for line in lines]


def test_resume_matches_an_uninterrupted_run(data_dir, tmp_path):
    straight = train(config(6), data_dir, tmp_path / "a", audio_encoder=tiny_audio_encoder(), progress=False, device=DEVICE)
    train(config(6), data_dir, tmp_path / "b", audio_encoder=tiny_audio_encoder(), progress=False, device=DEVICE, stop_after=4)
    assert last_checkpoint(tmp_path / "b").name == "step_0000004.pt"
    # Killed after the checkpoint: a row of step 5 reached the log before the process died.
    with open(tmp_path / "b" / "log.csv", "a") as log:
        log.write("5,1e-3,9.9" + ",0" * (len(_log_without_seconds(tmp_path / "a")[0]) - 2) + "\n")
    resumed = train(config(6), data_dir, tmp_path / "b", progress=False, device=DEVICE)  # no encoder given: from the checkpoint
    a, b = torch.load(straight, weights_only=False), torch.load(resumed, weights_only=False)
    assert a["iter"] == b["iter"] == 6
    for key, value in a["model"].items():
        torch.testing.assert_close(b["model"][key], value, rtol=1e-5, atol=1e-6, msg=key)
    log = _log_without_seconds(tmp_path / "b")
    assert log == _log_without_seconds(tmp_path / "a")  # header and every term
    assert [row[0] for row in log[1:]] == ["1", "2", "3", "4", "5", "6"]


def test_same_seed_same_weights_and_a_log_header_after_an_early_kill(data_dir, tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "log.csv").write_text("")  # killed before its first row was flushed
    runs = [train(config(2, seed=5), data_dir, tmp_path / name, audio_encoder=tiny_audio_encoder(), progress=False, device=DEVICE)
            for name in ("a", "b")]
    first, second = (torch.load(path, weights_only=False)["model"] for path in runs)
    for key, value in first.items():
        assert torch.equal(second[key], value), key
    assert (tmp_path / "a" / "log.csv").read_text().startswith("step,lr,loss,")
    other = train(config(2, seed=6), data_dir, tmp_path / "c", audio_encoder=tiny_audio_encoder(),
                  progress=False, device=DEVICE)
    different = torch.load(other, weights_only=False)["model"]
    assert not torch.equal(different["denoising_net.feature_proj.weight"], first["denoising_net.feature_proj.weight"])


def test_frozen_feature_cache_with_gradient_accumulation(data_dir, tmp_path):
    path = train(config(2, audio_training="frozen", feature_cache=True, accumulate_steps=2, ema_decay=0.0),
                 data_dir, tmp_path / "run", audio_encoder=tiny_audio_encoder(), progress=False, device=DEVICE)
    rows = (tmp_path / "run" / "log.csv").read_text().splitlines()
    assert len(rows) == 3 and all(cell != "nan" for cell in rows[-1].split(","))
    assert torch.load(path, weights_only=False)["args"].train_config["accumulate_steps"] == 2


def test_init_from_a_checkpoint_fine_tunes_it(data_dir, tmp_path):
    first = train(config(3), data_dir, tmp_path / "a", audio_encoder=tiny_audio_encoder(), progress=False, device=DEVICE)
    second = train(config(2), data_dir, tmp_path / "b", init=first, progress=False, device=DEVICE)
    assert torch.load(second, weights_only=False)["args"].n_heads == 2
    # The checkpoint's own encoder would win over a separate one: giving both is refused, before
    # anything is written, rather than silently training the checkpoint's encoder.
    encoder_dir = tmp_path / "encoder"
    tiny_audio_encoder(seed=1).save_pretrained(encoder_dir)
    with pytest.raises(ValueError, match="carries its own speech encoder.*Drop --audio-encoder"):
        train(config(2), data_dir, tmp_path / "c", init=first, audio_encoder_dir=encoder_dir, progress=False, device=DEVICE)
    assert not (tmp_path / "c").exists()
    # A run made around that folder resumes with the same command (the folder given again is not used).
    train(config(2), data_dir, tmp_path / "d", audio_encoder_dir=encoder_dir, progress=False, device=DEVICE, stop_after=1)
    resumed = train(config(2), data_dir, tmp_path / "d", audio_encoder_dir=encoder_dir, progress=False, device=DEVICE)
    assert torch.load(resumed, weights_only=False)["iter"] == 2


def test_cli_without_audio_encoder_says_what_to_give(data_dir, tmp_path, capsys):
    assert train_main(["--device", DEVICE, "--data", str(data_dir), "--out", str(tmp_path / "run"), "--size", "tiny",
                       "--max-steps", "1", "--no-progress"]) == 2
    assert "--audio-encoder" in capsys.readouterr().err


def _ddp_worker(rank, data_dir, run_dir, port, feature_cache=False):
    os.environ.update(WORLD_SIZE="2", RANK=str(rank), LOCAL_RANK=str(rank), MASTER_ADDR="127.0.0.1",
                      MASTER_PORT=str(port))
    torch.set_num_threads(1)
    train(config(2, audio_training="frozen", feature_cache=feature_cache, cache_truncated=feature_cache), data_dir,
          run_dir,
          audio_encoder=tiny_audio_encoder(), progress=False, device=DEVICE)
    torch.distributed.destroy_process_group()


def test_ddp_two_cpu_processes(data_dir, tmp_path):
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    torch.multiprocessing.spawn(_ddp_worker, args=(str(data_dir), str(tmp_path / "run"), port), nprocs=2)
    assert last_checkpoint(tmp_path / "run").name == "step_0000002.pt"


def test_ddp_ranks_share_one_feature_cache(data_dir, tmp_path):
    """Two ranks each encode half the clips into RUN_DIR/feature_cache; the arrays equal one
    process's, and the folder is whole (its manifest lists every clip)."""
    import json
    import socket

    from joyvasa.data import read_split
    from joyvasa.motion import MotionTemplate
    from joyvasa.training.dataset import ClipSampler
    from joyvasa.training.feature_cache import MANIFEST, FeatureCache

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    run_dir = tmp_path / "run"
    torch.multiprocessing.spawn(_ddp_worker, args=(str(data_dir), str(run_dir), port, True), nprocs=2)
    assert last_checkpoint(run_dir).name == "step_0000002.pt"
    train_ids, _ = read_split(data_dir)
    sampler = ClipSampler(data_dir, train_ids, MotionTemplate.load(data_dir / "motion_template.pkl"), 25, 70)
    one = FeatureCache(sampler, tiny_audio_encoder(), 25, 25, torch.device("cpu"), truncated=True, seed=0)
    encoder, calls = tiny_audio_encoder(), []
    encoder.feature_extractor.register_forward_hook(lambda *_: calls.append(1))
    shared = FeatureCache(sampler, encoder, 25, 25, torch.device("cpu"), truncated=True, seed=0,
                          directory=run_dir / "feature_cache")
    assert not calls  # read from the ranks' folder, not encoded again
    assert len(json.loads((run_dir / "feature_cache" / MANIFEST).read_text())["clips"]) == len(train_ids) == 4
    for a, b in zip(one.features + one.truncated, shared.features + shared.truncated):
        torch.testing.assert_close(a, b)


def test_sigterm_and_stop_after_save_cleanly_and_keep_last_applies_on_resume(data_dir, tmp_path, monkeypatch):
    import signal

    from joyvasa.training import trainer

    real_step, calls = trainer.optimisation_step, []

    def step_then_terminate(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:  # a preemptible cluster's notice during step 2
            os.kill(os.getpid(), signal.SIGTERM)
        return real_step(*args, **kwargs)

    monkeypatch.setattr(trainer, "optimisation_step", step_then_terminate)
    settings = dict(save_every=100, val_every=100, ema_decay=0.0, keep_last=0)
    path = train(config(4, **settings), data_dir, tmp_path / "run", audio_encoder=tiny_audio_encoder(),
                 progress=False, device=DEVICE)
    assert path.name == "step_0000002.pt" and path.with_suffix(".state.pt").is_file()
    monkeypatch.setattr(trainer, "optimisation_step", real_step)
    path = train(config(4, **settings), data_dir, tmp_path / "run", progress=False, device=DEVICE, stop_after=1)
    assert path.name == "step_0000003.pt"  # one more step of this session, then a clean save
    assert train(config(4, **settings), data_dir, tmp_path / "run", progress=False, device=DEVICE).name == \
        "step_0000004.pt"
    names = lambda: sorted(p.name for p in (tmp_path / "run" / "checkpoints").glob("step_*.pt"))  # noqa: E731
    assert len(names()) == 6  # keep_last 0 kept every .pt and .state.pt
    train(config(4, **{**settings, "keep_last": 1}), data_dir, tmp_path / "run", progress=False, device=DEVICE)
    assert names() == ["step_0000004.pt", "step_0000004.state.pt"]  # the finished run's new keep_last applied


def test_feature_cache_refreshes_on_schedule_and_a_resumed_run_equals_an_uninterrupted_one(data_dir, tmp_path):
    settings = dict(audio_training="frozen", feature_cache=True, cache_refresh_steps=2, ema_decay=0.0, val_every=100,
                    save_every=100)
    straight = train(config(5, **settings), data_dir, tmp_path / "a", audio_encoder=tiny_audio_encoder(),
                     progress=False, device=DEVICE)
    train(config(5, **settings), data_dir, tmp_path / "b", audio_encoder=tiny_audio_encoder(), progress=False,
          device=DEVICE, stop_after=3)  # stops inside the second refresh (steps 3-4)
    resumed = train(config(5, **settings), data_dir, tmp_path / "b", progress=False, device=DEVICE)
    a, b = torch.load(straight, weights_only=False), torch.load(resumed, weights_only=False)
    for key, value in a["model"].items():
        torch.testing.assert_close(b["model"][key], value, rtol=1e-5, atol=1e-6, msg=key)
    assert _log_without_seconds(tmp_path / "b") == _log_without_seconds(tmp_path / "a")
    manifest = (tmp_path / "a" / "feature_cache" / "cache.json").read_text()
    assert '"epoch": 2' in manifest  # steps 5.. drew from the third refresh


def test_feature_cache_refreshes_with_dataloader_workers_give_the_same_run(data_dir, tmp_path):
    settings = dict(audio_training="frozen", feature_cache=True, cache_refresh_steps=1, ema_decay=0.0, val_every=100,
                    save_every=100)
    runs = [train(config(2, num_workers=workers, **settings), data_dir, tmp_path / f"w{workers}",
                  audio_encoder=tiny_audio_encoder(), progress=False, device=DEVICE) for workers in (0, 1)]
    a, b = (torch.load(path, weights_only=False)["model"] for path in runs)
    for key, value in a.items():
        torch.testing.assert_close(b[key], value, rtol=1e-5, atol=1e-6, msg=key)
