"""Dropout whose mask is cheap on the CPU (training only).

torch draws a CPU dropout mask one Mersenne-Twister number per element (``bernoulli_``,
about 8 ns per element at one thread): in a fine-tuning step at the released size,
HuBERT's 48 dropouts per pass made ``bernoulli_`` 8 % of the step. Here the mask comes
from numpy's PCG64, four uniform 16-bit numbers per 64-bit draw (about 0.8 ns per
element), seeded from torch's default generator, so ``torch.manual_seed`` (and a run's
``--seed``) still fix it. The keep probability is rounded to a multiple of 1/65536 (p 0.1
drops 0.100006 of the values) and the kept values are scaled by the exact inverse of that
probability, so the expectation is unchanged: the objective is the same, only the random
numbers differ.

Other devices keep torch's dropout (the GPU's Philox draws are already cheap).
:func:`use_fast_dropout` swaps it into a model: every ``nn.Dropout`` and the attention
dropout of a Hugging Face encoder running eager attention.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

ATTENTION_NAME = "joyvasa_eager"  # eager attention with this dropout, registered with transformers


def keep_mask(shape, p: float) -> tuple[torch.Tensor, float]:
    """(bool CPU mask of ``shape``, its keep probability): each element kept with
    probability 1 - p rounded to a multiple of 1/65536."""
    count = math.prod(shape)
    threshold = round((1.0 - p) * 65536)
    seed = int(torch.randint(0, 2**62, ()))  # from torch's generator: torch.manual_seed fixes the mask
    bits = np.random.PCG64(seed).random_raw(-(-count // 4))
    return torch.from_numpy(bits.view(np.uint16)[:count] < threshold).view(shape), threshold / 65536


def drop(x: torch.Tensor, p: float, training: bool = True) -> torch.Tensor:
    """``F.dropout(x, p, training)`` with the cheap mask on the CPU."""
    if not training or p == 0.0:
        return x
    if x.device.type != "cpu" or p >= 1.0 or round((1.0 - p) * 65536) == 0:
        return F.dropout(x, p, training)
    mask, keep = keep_mask(x.shape, p)
    return x * mask.to(x.dtype).mul_(1.0 / keep)


class FastDropout(nn.Dropout):
    """``nn.Dropout`` drawing its CPU mask with :func:`keep_mask`."""

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        return drop(input, self.p, self.training)


def eager_attention(module, query, key, value, attention_mask, scaling=None, dropout: float = 0.0, **kwargs):
    """transformers' eager attention (HuBERT, wav2vec 2.0) with :func:`drop` on the weights."""
    if scaling is None:
        scaling = query.size(-1) ** -0.5
    weights = torch.matmul(query, key.transpose(2, 3)) * scaling
    if attention_mask is not None:
        weights = weights + attention_mask
    weights = drop(F.softmax(weights, dim=-1), dropout, module.training)
    return torch.matmul(weights, value).transpose(1, 2).contiguous(), weights


def use_fast_dropout(model: nn.Module) -> nn.Module:
    """Swap :class:`FastDropout` for every plain ``nn.Dropout`` in ``model``, and
    :func:`eager_attention` into its Hugging Face encoders that run eager attention."""
    from transformers import AttentionInterface, PreTrainedModel

    AttentionInterface.register(ATTENTION_NAME, eager_attention)
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if type(child) is nn.Dropout:
                fast = FastDropout(child.p, child.inplace)
                fast.train(child.training)
                setattr(parent, name, fast)
        if isinstance(parent, PreTrainedModel) and parent.config._attn_implementation == "eager":
            parent.config._attn_implementation = ATTENTION_NAME
    return model
