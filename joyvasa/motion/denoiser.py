"""JoyVASA's denoising transformer (``denoising_net`` in the checkpoint).

A post-norm ``nn.TransformerDecoder`` over ``n_prev + n_motions`` motion tokens.
Each motion token attends to every other motion token (no causal mask) and
cross-attends only to the audio token at the same time index (the
``alignment_mask``). The output is a prediction of the clean motion (x0) for all
tokens; samplers use the last ``n_motions``.

Positional encoding. Upstream's ``PositionalEncoding`` added, until December
2025, the single table row ``pe[L]`` (L = sequence length) to every token, so
the tokens carried no position at all. The released weights were trained that
way. Both behaviours are available through ``pe_variant``:

- :data:`CONSTANT_ROW`: row ``pe[n_prev + n_motions]`` added to every token, as the
  released weights expect.
- :data:`PER_POSITION`: rows ``pe[0 .. L-1]``, upstream's later fix.

The variant belongs to the weights: :class:`~joyvasa.motion.generator.MotionGeneratorConfig`
holds it (read from the checkpoint); the network takes it as an argument of each call.

Speed. With the released one-to-one alignment mask, the cross-attention of a
token is a softmax over a single allowed key, i.e. exactly its value vector.
The cross-attention output of every layer therefore depends on the audio only,
not on the noisy motion, and :meth:`DenoisingNetwork.prepare_memory` computes it
once per window instead of once per diffusion step. :meth:`forward` is the plain
``nn.TransformerDecoder`` path the fast path is tested against.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

CONSTANT_ROW, PER_POSITION = "constant_row", "per_position"
PE_VARIANTS = (CONSTANT_ROW, PER_POSITION)  # the first is what the released weights were trained with

# Upstream builds the timestep table with its constructor default (500 steps,
# 501 rows) whatever the checkpoint's n_diff_steps is; see the loader.
DEFAULT_TIMESTEP_TABLE_ROWS = 501
POSITION_TABLE_ROWS = 600


def check_pe_variant(pe_variant: str) -> str:
    if pe_variant not in PE_VARIANTS:
        raise ValueError(_unknown_pe_variant(pe_variant))
    return pe_variant


def _unknown_pe_variant(pe_variant) -> str:
    return (f"pe_variant must be one of {', '.join(PE_VARIANTS)}, not '{pe_variant}'. "
            f"'{CONSTANT_ROW}' is what the released JoyVASA weights were trained with.")


def sinusoidal_table(n_rows: int, dim: int) -> torch.Tensor:
    """The transformer sine/cosine table, shape (1, n_rows, dim)."""
    table = torch.zeros(n_rows, dim)
    position = torch.arange(0, n_rows).unsqueeze(1)
    inv_freq = torch.exp(torch.arange(0, dim, 2) * (-math.log(10000.0) / dim))
    table[:, 0::2] = torch.sin(position * inv_freq)
    table[:, 1::2] = torch.cos(position * inv_freq)
    return table.unsqueeze(0)


def alignment_mask(n_tokens: int) -> torch.Tensor:
    """Bool (n_tokens, n_tokens) cross-attention mask; True = not allowed.

    Only the diagonal is allowed: motion token i sees audio token i alone
    (upstream's ``enc_dec_mask`` with frame width 1 and no expansion).
    """
    return ~torch.eye(n_tokens, dtype=torch.bool)


class SinusoidalTable(nn.Module):
    """Holds a fixed sinusoidal table as buffer ``pe`` (1, n_rows, dim)."""

    def __init__(self, dim: int, n_rows: int):
        super().__init__()
        self.register_buffer("pe", sinusoidal_table(n_rows, dim))

    def add_positions(self, tokens: torch.Tensor, pe_variant: str) -> torch.Tensor:
        """tokens (N, L, dim) plus the positional rows of ``pe_variant``."""
        length = tokens.shape[1]
        if pe_variant == CONSTANT_ROW:
            return tokens + self.pe[:, length]
        if pe_variant == PER_POSITION:
            return tokens + self.pe[:, :length]
        raise ValueError(_unknown_pe_variant(pe_variant))


@dataclass
class DenoiserMemory:
    """Audio-side state of one window, fixed over all diffusion steps.

    ``memory`` is the audio token sequence (N, L, d). ``cross_attention`` holds,
    per decoder layer, the finished cross-attention output (N, L, d) when the
    alignment mask is one-to-one; it is None otherwise (computed per step).
    """

    memory: torch.Tensor
    cross_attention: list[torch.Tensor] | None


class DenoisingNetwork(nn.Module):
    def __init__(
        self,
        motion_feat_dim: int,
        feature_dim: int,
        n_prev_motions: int,
        n_motions: int,
        n_layers: int = 8,
        n_heads: int = 8,
        ffn_dim: int | None = None,
        timestep_table_rows: int = DEFAULT_TIMESTEP_TABLE_ROWS,
        pe_dropout: float = 0.0,
    ):
        super().__init__()
        self.motion_feat_dim = motion_feat_dim
        self.feature_dim = feature_dim
        self.n_prev_motions = n_prev_motions
        self.n_motions = n_motions
        n_tokens = n_prev_motions + n_motions

        self.TE = SinusoidalTable(feature_dim, timestep_table_rows)
        self.diff_step_map = nn.Sequential(
            nn.Linear(feature_dim, feature_dim), nn.GELU(), nn.Linear(feature_dim, feature_dim)
        )
        self.PE = SinusoidalTable(feature_dim, max(POSITION_TABLE_ROWS, n_tokens + 1))
        # Upstream's PositionalEncoding ends in Dropout(0.1); active in training mode only
        # (the trainer sets p), so sampling in eval mode is unchanged. No weights.
        self.pe_dropout = nn.Dropout(pe_dropout)
        self.feature_proj = nn.Linear(motion_feat_dim, feature_dim)
        layer = nn.TransformerDecoderLayer(
            d_model=feature_dim,
            nhead=n_heads,
            dim_feedforward=ffn_dim or 4 * feature_dim,
            activation="gelu",
            batch_first=True,
        )
        self.transformer = nn.TransformerDecoder(layer, num_layers=n_layers)
        self.register_buffer("alignment_mask", alignment_mask(n_tokens))
        self.motion_dec = nn.Sequential(
            nn.Linear(feature_dim, feature_dim // 2),
            nn.GELU(),
            nn.Linear(feature_dim // 2, motion_feat_dim),
        )

    # -- pieces shared by both paths -------------------------------------------------

    def timestep_embedding(self, step: torch.Tensor | int) -> torch.Tensor:
        """(N, 1, d) for a (N,) step tensor, (1, 1, d) for an int step."""
        if isinstance(step, int):
            return self.diff_step_map(self.TE.pe[0, step]).view(1, 1, -1)
        return self.diff_step_map(self.TE.pe[0, step]).unsqueeze(1)

    def embed_motion(self, motion_feat, prev_motion_feat, step, pe_variant) -> torch.Tensor:
        tokens = self.feature_proj(torch.cat([prev_motion_feat, motion_feat], dim=1))
        tokens = self.PE.add_positions(tokens, pe_variant)
        return self.pe_dropout(tokens) + self.timestep_embedding(step)

    # -- reference path ---------------------------------------------------------------

    def forward(
        self,
        motion_feat: torch.Tensor,  # (N, n_motions, D) noisy motion x_t
        audio_feat: torch.Tensor,  # (N, n_motions, d)
        prev_motion_feat: torch.Tensor,  # (N, n_prev, D)
        prev_audio_feat: torch.Tensor,  # (N, n_prev, d)
        step: torch.Tensor | int,  # (N,) diffusion step 1..T
        pe_variant: str,  # the weights' (the generator's config), unless sampling overrides it
    ) -> torch.Tensor:
        """x0 prediction for every token, (N, n_prev + n_motions, D)."""
        tokens = self.embed_motion(motion_feat, prev_motion_feat, step, pe_variant)
        memory = torch.cat([prev_audio_feat, audio_feat], dim=1)
        hidden = self.transformer(tgt=tokens, memory=memory, memory_mask=self.alignment_mask)
        return self.motion_dec(hidden)

    # -- fast path for sampling -------------------------------------------------------

    def mask_is_one_to_one(self) -> bool:
        mask = self.alignment_mask
        return mask.shape[0] == mask.shape[1] and bool(
            torch.equal(~mask, torch.eye(mask.shape[0], dtype=torch.bool, device=mask.device))
        )

    def prepare_memory(self, audio_feat: torch.Tensor, prev_audio_feat: torch.Tensor) -> DenoiserMemory:
        memory = torch.cat([prev_audio_feat, audio_feat], dim=1)
        if not self.mask_is_one_to_one():
            return DenoiserMemory(memory, None)
        d = self.feature_dim
        cross = []
        for layer in self.transformer.layers:
            attn = layer.multihead_attn
            values = F.linear(memory, attn.in_proj_weight[2 * d:], attn.in_proj_bias[2 * d:])
            cross.append(attn.out_proj(values))
        return DenoiserMemory(memory, cross)

    def forward_with_memory(
        self,
        motion_feat: torch.Tensor,
        prev_motion_feat: torch.Tensor,
        step: torch.Tensor | int,
        memory: DenoiserMemory,
        pe_variant: str,
    ) -> torch.Tensor:
        """Same result as :meth:`forward`, reusing the audio-side work of a window."""
        hidden = self.embed_motion(motion_feat, prev_motion_feat, step, pe_variant)
        for index, layer in enumerate(self.transformer.layers):
            # Post-norm decoder layer, spelled out (dropout is inactive in eval mode).
            attended = layer.self_attn(hidden, hidden, hidden, need_weights=False)[0]
            hidden = layer.norm1(hidden + attended)
            if memory.cross_attention is not None:
                attended = memory.cross_attention[index]
            else:
                attended = layer.multihead_attn(
                    hidden, memory.memory, memory.memory,
                    attn_mask=self.alignment_mask, need_weights=False,
                )[0]
            hidden = layer.norm2(hidden + attended)
            hidden = layer.norm3(hidden + layer.linear2(layer.activation(layer.linear1(hidden))))
        return self.motion_dec(hidden)
