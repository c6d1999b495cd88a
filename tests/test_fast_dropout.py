"""The training's CPU dropout: the same distribution as torch's, seeded by torch, and
swapped into every dropout of the generator (HuBERT's attention dropout included)."""

import math

import torch
from torch import nn
from torch.nn import functional as F

from joyvasa.training import TrainConfig, build_generator
from joyvasa.training.fast_dropout import ATTENTION_NAME, FastDropout, drop, eager_attention, keep_mask, use_fast_dropout
from tests.training_data import tiny_audio_encoder


def test_mask_keeps_one_minus_p_and_the_output_keeps_its_expectation():
    count = 4_000_000
    for p in (0.1, 0.5, 0.05):
        mask, keep = keep_mask((count,), p)
        assert abs(keep - (1 - p)) <= 1 / 65536
        sigma = math.sqrt(keep * (1 - keep) / count)
        assert abs(mask.float().mean().item() - keep) < 5 * sigma
        out = drop(torch.ones(count), p)
        values = torch.unique(out)
        assert len(values) == 2 and values[0] == 0 and math.isclose(values[1].item(), 1 / keep, rel_tol=1e-6)
        assert abs(out.mean().item() - 1) < 5 * sigma / keep
    # neighbouring elements are independent (four per 64-bit draw): pairs kept as often as p^2 says
    mask, keep = keep_mask((count,), 0.5)
    pairs = (mask[0::2] & mask[1::2]).float().mean().item()
    assert abs(pairs - keep * keep) < 5 * math.sqrt(keep * keep * (1 - keep * keep) / (count // 2))


def test_torch_seed_fixes_the_mask_and_gradients_follow_it():
    x = torch.randn(3, 50, 64, requires_grad=True)
    torch.manual_seed(7)
    first = drop(x, 0.1)
    torch.manual_seed(7)
    again = drop(x, 0.1)
    assert torch.equal(first, again)
    assert not torch.equal(first, drop(x, 0.1))  # the stream moved on
    first.sum().backward()
    kept = first != 0
    assert torch.allclose(x.grad[kept], torch.full_like(x.grad[kept], 1 / keep_mask((1,), 0.1)[1]))
    assert torch.all(x.grad[~kept] == 0)
    assert drop(x, 0.1, training=False) is x and drop(x, 0.0) is x
    assert torch.all(drop(x, 1.0) == 0)  # p 1 goes through torch's own dropout


def test_eager_attention_equals_transformers_without_dropout():
    from transformers.models.hubert.modeling_hubert import eager_attention_forward

    module = nn.Module().eval()
    q, k, v = (torch.randn(2, 4, 30, 8) for _ in range(3))
    mask = torch.zeros(2, 1, 30, 30)
    mask[..., -5:] = -1e9
    ours = eager_attention(module, q, k, v, mask, scaling=0.3, dropout=0.1)
    theirs = eager_attention_forward(module, q, k, v, mask, scaling=0.3, dropout=0.1)
    assert torch.equal(ours[0], theirs[0]) and torch.equal(ours[1], theirs[1])


def test_use_fast_dropout_swaps_every_dropout_and_keeps_eval_outputs():
    torch.manual_seed(0)
    generator = build_generator(TrainConfig(size="tiny", n_motions=25, n_prev_motions=5), tiny_audio_encoder())
    generator.eval()
    wav = 0.1 * torch.randn(2, 16000)
    encoder = generator.audio_encoder
    before = encoder(wav).last_hidden_state
    use_fast_dropout(generator)
    assert not [m for m in generator.modules() if type(m) is nn.Dropout]
    assert any(isinstance(m, FastDropout) and m.p > 0 for m in generator.denoising_net.modules())
    assert encoder.config._attn_implementation == ATTENTION_NAME
    assert torch.equal(encoder(wav).last_hidden_state, before)  # eval: no dropout, same numbers
    encoder.train()
    encoder.config.layerdrop = encoder.config.mask_time_prob = 0.0  # (transformers draws those with numpy)
    torch.manual_seed(1)
    one = encoder(wav).last_hidden_state
    torch.manual_seed(1)
    assert torch.equal(encoder(wav).last_hidden_state, one)
    assert not torch.allclose(one, before)  # training: the dropouts (attention's included) act


def test_training_rate_matches_torch_on_a_layer():
    """A layer's output statistics under our dropout match torch's (same p, same scaling)."""
    x = torch.randn(200_000)
    ours = torch.stack([drop(x, 0.1) for _ in range(20)])
    theirs = torch.stack([F.dropout(x, 0.1) for _ in range(20)])
    assert abs((ours == 0).float().mean().item() - (theirs == 0).float().mean().item()) < 2e-3
    assert abs(ours.square().mean().item() - theirs.square().mean().item()) < 1e-2
