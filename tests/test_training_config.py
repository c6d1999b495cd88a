"""The declared training config (flags, --config file, resume refusal), the objective's
upstream pieces (SpecAugment, PE dropout, frozen CNN), sizes and safe --init."""

import dataclasses
import json

import pytest
import torch

from joyvasa.options import OptionError
from joyvasa.training import TrainConfig, build_generator
from joyvasa.training.cli import build_parser, main as train_main, resolve_config
from joyvasa.training.config import CONFIG_FILENAME, merge_for_resume, stored_config
from tests.recipe import manifest_keys
from tests.training_data import DEVICE, tiny_audio_encoder


def _args(tmp_path, *extra):
    return build_parser().parse_args(["--data", str(tmp_path / "data"), "--out", str(tmp_path / "run"), *extra])


def test_every_setting_has_a_flag_with_help_and_the_new_run_defaults():
    text = build_parser().format_help()
    for f in dataclasses.fields(TrainConfig):
        assert "--" + f.name.replace("_", "-") in text, f.name
        assert f.metadata["help"], f.name
    config = TrainConfig()
    assert config.pe_variant == "per_position" and config.pe_dropout == 0.1 and config.spec_augment


def test_config_file_then_flags(tmp_path):
    path = tmp_path / "train.json"
    path.write_text(json.dumps({"lr": 0.001, "batch_size": 4, "trunc_prob_clip1": 0.2}))
    config = resolve_config(_args(tmp_path, "--config", str(path), "--batch-size", "8"))
    assert (config.lr, config.batch_size, config.trunc_prob_clip1) == (0.001, 8, 0.2)
    path.write_text(json.dumps({"learning_rate": 0.001}))
    with pytest.raises(OptionError, match="learning_rate"):
        resolve_config(_args(tmp_path, "--config", str(path)))
    with pytest.raises(OptionError, match="grad_clip"):
        TrainConfig(grad_clip=-1.0)


def test_resume_keeps_the_stored_config_and_refuses_a_contradiction(tmp_path):
    (tmp_path / "run").mkdir()
    TrainConfig(size="tiny", lr=0.001, log_every=5).write(tmp_path / "run")
    assert stored_config(tmp_path / "run") == TrainConfig(size="tiny", lr=0.001, log_every=5)
    config = resolve_config(_args(tmp_path, "--log-every", "7", "--lr", "0.001"))  # same lr, free log_every
    assert (config.size, config.lr, config.log_every) == ("tiny", 0.001, 7)
    with pytest.raises(OptionError, match=r"lr = 0\.0001 \(the run has 0\.001\)"):
        resolve_config(_args(tmp_path, "--lr", "0.0001"))
    assert train_main(["--device", DEVICE, "--data", str(tmp_path / "data"), "--out", str(tmp_path / "run"), "--pe-dropout", "0.2",
                       "--no-progress"]) == 2
    with pytest.raises(OptionError, match="pe_dropout"):
        merge_for_resume(TrainConfig(), {"pe_dropout": 0.3}, "x")


def test_pe_dropout_acts_in_training_only():
    torch.manual_seed(0)
    generator = build_generator(TrainConfig(size="tiny", n_motions=25, n_prev_motions=5, pe_dropout=0.5),
                                tiny_audio_encoder())
    net = generator.denoising_net
    assert net.pe_dropout.p == 0.5
    args = (torch.randn(2, 25, 70), torch.randn(2, 25, 32), torch.randn(2, 5, 70), torch.randn(2, 5, 32),
            torch.tensor([3, 7]), generator.config.pe_variant)
    net.eval()
    still = net(*args)
    net.pe_dropout.p = 0.0
    torch.testing.assert_close(net(*args), still)  # eval: the dropout changes nothing
    net.train()
    net.transformer.eval()  # only the PE dropout may act
    net.pe_dropout.p = 0.5
    assert not torch.allclose(net(*args), still)


def test_spec_augment_mask_as_transformers_draws_it():
    from joyvasa.audio.encoder import CHINESE_HUBERT_BASE_CONFIG, time_mask
    from transformers import HubertConfig

    config = HubertConfig(**CHINESE_HUBERT_BASE_CONFIG)
    torch.manual_seed(3)
    mask = time_mask(config, 6, 200)
    for row in mask:  # two spans of 10 frames (possibly overlapping)
        assert 10 < int(row.sum()) <= 20
        starts = [i for i in range(200) if row[i] and (i == 0 or not row[i - 1])]
        assert all(bool(row[s:s + 10].all()) for s in starts)
    torch.manual_seed(3)
    assert torch.equal(time_mask(config, 6, 200), mask)  # torch's stream: --seed covers it
    assert time_mask(HubertConfig(**{**CHINESE_HUBERT_BASE_CONFIG, "mask_time_prob": 0.0}), 2, 200) is None


def test_finetuning_keeps_the_cnn_out_of_the_graph_and_trains_masked_spec_embed():
    from joyvasa.audio.encoder import audio_hidden_states
    from joyvasa.training.trainer import set_trainable

    torch.manual_seed(0)
    generator = build_generator(TrainConfig(size="tiny", n_motions=25, n_prev_motions=5), tiny_audio_encoder())
    params = set_trainable(generator, "finetune")
    encoder = generator.audio_encoder
    assert encoder.training and not encoder.feature_extractor._requires_grad
    assert encoder.masked_spec_embed.requires_grad and any(p is encoder.masked_spec_embed for p in params)
    conv_out = encoder.feature_extractor(torch.randn(2, 16080))
    assert not conv_out.requires_grad  # no backward through the CNN to the raw audio
    hidden = audio_hidden_states(encoder, 0.1 * torch.randn(2, 16000), 25, 25.0, spec_augment=True)[1]
    hidden.square().mean().backward()
    assert encoder.masked_spec_embed.grad is not None and encoder.masked_spec_embed.grad.abs().sum() > 0
    assert all(p.grad is None for p in encoder.feature_extractor.parameters())


def test_released_size_has_the_released_layout():
    """Keys and shapes equal the published checkpoint's, so upstream's loader takes it."""
    from joyvasa.audio import build_audio_encoder
    from joyvasa.training.checkpointing import checkpoint_args

    config = TrainConfig(motion_feat_dim=73)
    generator = build_generator(config, build_audio_encoder(config.audio_model))
    ours = {k: tuple(v.shape) for k, v in generator.state_dict().items()}
    released = {k["key"]: tuple(k["shape"]) for k in manifest_keys("motion_generator")}
    released.pop("denoising_net.TE.pe")  # upstream pops the checkpoint's shorter table
    ours.pop("denoising_net.TE.pe")
    assert ours == released
    assert "upstream" in checkpoint_args(generator, config).loadable_by
    tiny = build_generator(TrainConfig(size="tiny", n_motions=25, n_prev_motions=5), tiny_audio_encoder())
    assert "this project only" in checkpoint_args(tiny, TrainConfig(size="tiny")).loadable_by


class _RunsCode:
    def __reduce__(self):
        return (exec, ("open(__import__('os').environ['JOYVASA_MARKER'], 'w').write('ran')",))


def test_init_whose_pickle_runs_code_is_refused(tmp_path, monkeypatch, capsys):
    marker = tmp_path / "marker"
    monkeypatch.setenv("JOYVASA_MARKER", str(marker))
    evil = tmp_path / "evil.pt"
    torch.save({"args": _RunsCode(), "model": {}, "iter": 0}, evil)
    from tests.training_data import write_synthetic_dataset

    write_synthetic_dataset(tmp_path / "data", n_train=2, n_val=0, frames=60)
    code = train_main(["--device", DEVICE, "--data", str(tmp_path / "data"), "--out", str(tmp_path / "run"), "--init", str(evil),
                       "--size", "tiny", "--max-steps", "1", "--no-progress"])
    assert code == 2
    assert "evil.pt" in capsys.readouterr().err
    assert not marker.exists()
    assert not (tmp_path / "run" / CONFIG_FILENAME).exists()


@pytest.mark.parametrize("truncation, null_audio", [(0.0, 0.1), (0.5, 0.5)])
def test_cached_features_give_the_live_loss(truncation, null_audio):
    """The cache path (kept truncated windows encoded live) and the live path (kept windows,
    then clip 0's full audio where truncated or dropped) give one loss."""
    from joyvasa.audio.encoder import audio_hidden_states
    from joyvasa.training import TwoClipObjective
    from joyvasa.training.trainer import set_trainable

    config = TrainConfig(size="tiny", n_motions=25, n_prev_motions=5, audio_training="frozen",
                         trunc_prob_clip0=truncation, trunc_prob_clip1=truncation, null_audio_prob=null_audio)
    torch.manual_seed(0)
    generator = build_generator(config, tiny_audio_encoder())
    set_trainable(generator, "frozen")
    objective = TwoClipObjective(generator, config)
    batch = {"motion": torch.randn(3, 50, 70), "audio": 0.1 * torch.randn(3, 50 * 640),
             "valid_frames": torch.full((3,), 50)}
    with torch.no_grad():
        hidden = audio_hidden_states(generator.audio_encoder, batch["audio"].view(6, -1), 25, 25)[1]
    torch.manual_seed(1)
    live = objective(**batch)[0]
    torch.manual_seed(1)
    cached = objective(**batch, features=hidden.view(3, 2, 25, -1))[0]
    torch.testing.assert_close(cached, live)


def test_cached_truncated_windows_give_the_loss_of_encoding_them_at_their_cut():
    """cache_truncated: a truncated window takes the batch's cut and the cache's features of
    the window cut there, the loss of encoding that truncated window live."""
    from joyvasa.audio.encoder import audio_hidden_states
    from joyvasa.training import TwoClipObjective
    from joyvasa.training.trainer import set_trainable

    config = TrainConfig(size="tiny", n_motions=25, n_prev_motions=5, audio_training="frozen",
                         trunc_prob_clip0=0.6, trunc_prob_clip1=0.6, null_audio_prob=0.2)
    torch.manual_seed(0)
    generator = build_generator(config, tiny_audio_encoder())
    set_trainable(generator, "frozen")
    objective = TwoClipObjective(generator, config)
    batch = {"motion": torch.randn(4, 50, 70), "audio": 0.1 * torch.randn(4, 50 * 640),
             "valid_frames": torch.tensor([50, 50, 40, 30])}
    for row, valid in enumerate(batch["valid_frames"].tolist()):  # a short clip's crop is zero-padded
        batch["audio"][row, valid * 640:] = 0
    cuts = torch.tensor([[5, 20], [12, 3], [24, 7], [9, 24]])
    windows = batch["audio"].view(8, -1)
    keep = torch.arange(25).unsqueeze(0) < cuts.reshape(-1, 1)
    with torch.no_grad():
        whole = audio_hidden_states(generator.audio_encoder, windows, 25, 25)[1].view(4, 2, 25, -1)
        cut = audio_hidden_states(generator.audio_encoder, windows * keep.repeat_interleave(640, 1), 25, 25)[1]
    for seed in range(3):
        torch.manual_seed(seed)
        live = objective(**batch, features=whole, cuts=cuts)[0]
        torch.manual_seed(seed)
        cached = objective(**batch, features=whole, truncated_features=cut.view(4, 2, 25, -1), cuts=cuts)[0]
        torch.testing.assert_close(cached, live)


def test_feature_cache_draws_one_cut_per_window_and_encodes_the_window_cut_there(tmp_path):
    from joyvasa.audio.encoder import audio_hidden_states
    from joyvasa.motion import MotionTemplate
    from joyvasa.training.dataset import ClipSampler
    from joyvasa.training.feature_cache import FeatureCache
    from tests.training_data import write_synthetic_dataset

    train_ids, _ = write_synthetic_dataset(tmp_path, n_train=2, n_val=1, frames=60)
    template = MotionTemplate.load(tmp_path / "motion_template.pkl")
    sampler = ClipSampler(tmp_path, train_ids, template, 25, 70)
    encoder = tiny_audio_encoder()
    cache = FeatureCache(sampler, encoder, 25, 25, torch.device("cpu"), truncated=True, seed=3)
    again = FeatureCache(sampler, encoder, 25, 25, torch.device("cpu"), truncated=True, seed=3)
    assert all(torch.equal(a, b) for a, b in zip(cache.cuts, again.cuts))  # the run's seed fixes the cuts
    assert cache.phases == again.phases and all(0 <= p <= 10 for p in cache.phases)  # a 2 x 25 crop fits
    cuts = torch.cat(cache.cuts)
    assert len(cuts) == sum(len(f) for f in cache.features) and int(cuts.min()) >= 3 and int(cuts.max()) < 25
    clip, phase, count = sampler.clips[0], cache.phases[0], len(cache.features[0])
    assert count == -(-(60 - phase) // 25)
    audio = clip.audio(phase * 640)
    audio = torch.nn.functional.pad(audio, (0, count * 25 * 640 - audio.numel())).view(count, -1)
    audio[1, int(cache.cuts[0][1]) * 640:] = 0
    with torch.no_grad():
        expected = audio_hidden_states(encoder.eval(), audio[1:2], 25, 25)[1][0]
    torch.testing.assert_close(cache.truncated[0][1], expected)
    batch = cache.sample_batch(3, torch.Generator().manual_seed(0))
    assert batch["truncated_features"].shape == batch["features"].shape and batch["cuts"].shape == (3, 2)
    plain = FeatureCache(sampler, encoder, 25, 25, torch.device("cpu"))
    assert "cuts" not in plain.sample_batch(2, torch.Generator().manual_seed(0))


def test_feature_cache_windows_start_at_a_random_phase_redrawn_with_new_cuts_at_each_refresh(tmp_path):
    from joyvasa.motion import MotionTemplate
    from joyvasa.training.dataset import ClipSampler
    from joyvasa.training.feature_cache import FeatureCache
    from tests.training_data import write_synthetic_dataset

    assert TrainConfig().cache_truncated is False and TrainConfig().cache_refresh_steps > 0
    train_ids, _ = write_synthetic_dataset(tmp_path, n_train=4, n_val=1, frames=90)
    sampler = ClipSampler(tmp_path, train_ids, MotionTemplate.load(tmp_path / "motion_template.pkl"), 25, 70)
    encoder, calls = tiny_audio_encoder(), []
    encoder.feature_extractor.register_forward_hook(lambda *_: calls.append(1))
    cache = FeatureCache(sampler, encoder, 25, 25, torch.device("cpu"), truncated=True, seed=1, refresh_batches=2)
    seen = {}
    for batch_index in range(8):  # refreshes 0..3
        calls.clear()
        batch = cache.batch(batch_index, 4, seed=1)
        assert bool(calls) == (batch_index in (2, 4, 6))  # one encoder pass per refresh (0 when made), none between
        seen.setdefault(cache.epoch, (list(cache.phases), [c.clone() for c in cache.cuts]))
        assert batch["features"].shape == (4, 2, 25, 32)
    phases = [seen[e][0] for e in range(4)]
    assert len({tuple(p) for p in phases}) > 1 and all(0 <= p < 25 for row in phases for p in row)
    assert not all(torch.equal(a, b) for a, b in zip(seen[0][1], seen[1][1]))  # new cuts with the new phases
    # every crop starts on its refresh's grid: phase + k * 25
    grid = [sampler.crop(i, p + k * 25, None)["motion"] for i, p in enumerate(cache.phases) for k in range(3)]
    generator = torch.Generator().manual_seed(0)
    for _ in range(10):
        item = cache.draw(generator)
        assert any(torch.equal(motion, item["motion"]) for motion in grid)


def test_feature_cache_on_disk_equals_the_in_memory_one_and_is_reused(tmp_path):
    from joyvasa.motion import MotionTemplate
    from joyvasa.training.dataset import ClipSampler
    from joyvasa.training.feature_cache import MANIFEST, FeatureCache
    from tests.training_data import write_synthetic_dataset

    train_ids, _ = write_synthetic_dataset(tmp_path / "data", n_train=3, n_val=1, frames=60)
    sampler = ClipSampler(tmp_path / "data", train_ids, MotionTemplate.load(tmp_path / "data" / "motion_template.pkl"),
                          25, 70)
    encoder, cpu = tiny_audio_encoder(), torch.device("cpu")
    calls = []
    encoder.feature_extractor.register_forward_hook(lambda *_: calls.append(1))
    memory = FeatureCache(sampler, encoder, 25, 25, cpu, truncated=True, seed=2)
    folder = tmp_path / "run" / "feature_cache"
    disk = FeatureCache(sampler, encoder, 25, 25, cpu, truncated=True, seed=2, directory=folder)
    assert (folder / MANIFEST).is_file() and (folder / "whole.npy").is_file() and (folder / "cut.npy").is_file()
    for ours, theirs in ((disk.features, memory.features), (disk.truncated, memory.truncated), (disk.cuts, memory.cuts)):
        assert all(torch.equal(a, b) for a, b in zip(ours, theirs))
    calls.clear()
    again = FeatureCache(sampler, encoder, 25, 25, cpu, truncated=True, seed=2, directory=folder)
    assert not calls  # a resumed run reads the folder instead of encoding
    assert all(torch.equal(a, b) for a, b in zip(again.truncated, memory.truncated))
    reseeded = FeatureCache(sampler, encoder, 25, 25, cpu, truncated=True, seed=3, directory=folder)
    assert calls and not all(torch.equal(a, b) for a, b in zip(reseeded.cuts, memory.cuts))
    calls.clear()
    other = tiny_audio_encoder(seed=1)
    rebuilt = FeatureCache(sampler, other, 25, 25, cpu, directory=folder)  # other weights: encoded again
    assert not torch.equal(rebuilt.features[0], memory.features[0])
    assert disk.sample_batch(2, torch.Generator().manual_seed(0))["features"].shape == (2, 2, 25, 32)


def test_dropped_windows_skip_the_encoder_pass_with_gradients():
    """A window whose audio condition is dropped gets no encoder gradient anyway: with every
    condition dropped only clip 0's full audio is encoded (once, without a graph) and the
    encoder's transformer is left without gradients; with none dropped, both clips' windows
    go through one call with gradients."""
    from joyvasa.training import TwoClipObjective
    from joyvasa.training.trainer import set_trainable

    torch.manual_seed(0)
    batch = {"motion": torch.randn(3, 50, 70), "audio": 0.1 * torch.randn(3, 50 * 640),
             "valid_frames": torch.full((3,), 50)}
    for null_audio, expected_calls in ((1.0, [(3, False)]), (0.0, [(6, True)])):
        config = TrainConfig(size="tiny", n_motions=25, n_prev_motions=5, trunc_prob_clip0=0.0, trunc_prob_clip1=0.0,
                             null_audio_prob=null_audio)
        generator = build_generator(config, tiny_audio_encoder())
        set_trainable(generator, "finetune")
        calls = []
        generator.audio_encoder.encoder.register_forward_hook(
            lambda module, args, out: calls.append((args[0].shape[0], torch.is_grad_enabled())))
        loss = TwoClipObjective(generator, config)(**batch)[0]
        loss.backward()
        assert calls == expected_calls
        grads = [p.grad for p in generator.audio_encoder.encoder.parameters()]
        assert all(g is None for g in grads) if null_audio else all(g is not None for g in grads)
        assert (generator.null_audio_feat.grad.abs().sum() > 0) == bool(null_audio)


@pytest.mark.parametrize("fused", [True, False])
def test_clipping_through_the_fused_optimiser_equals_clip_grad_norm(fused):
    """clipped_step hands the clipping factor to the fused AdamW (grad_scale) instead of
    rewriting the gradients; the updated weights are clip_grad_norm_'s, to rounding."""
    from joyvasa.training.trainer import clipped_step

    torch.manual_seed(0)
    ours = [torch.nn.Parameter(torch.randn(40, 30)) for _ in range(3)]
    theirs = [torch.nn.Parameter(p.detach().clone()) for p in ours]
    opt_ours = torch.optim.AdamW(ours, lr=1e-2, weight_decay=0.0, fused=fused)
    opt_theirs = torch.optim.AdamW(theirs, lr=1e-2, weight_decay=0.0)
    for scale in (10.0, 0.01, 3.0):  # clipped, not clipped, clipped
        for a, b in zip(ours, theirs):
            a.grad = scale * torch.randn_like(a)
            b.grad = a.grad.clone()
        clipped_step(opt_ours, ours, 1.0)
        torch.nn.utils.clip_grad_norm_(theirs, 1.0)
        opt_theirs.step()
    for a, b in zip(ours, theirs):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
