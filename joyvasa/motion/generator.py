"""JoyVASA's motion generator ("DitTalkingHead"): audio encoder, audio projection,
learned start/null tokens, the denoising transformer and the diffusion schedule.

The attribute names are the checkpoint's state-dict keys. The configuration
comes from the checkpoint (:meth:`MotionGeneratorConfig.from_checkpoint`), never
from constants here. This module holds weights and the per-window guided
denoiser; the samplers live in :mod:`joyvasa.motion.samplers` and the window
loop in :mod:`joyvasa.motion.windows`.
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass
from typing import Any, Mapping

import torch
from torch import nn

from .denoiser import CONSTANT_ROW, DEFAULT_TIMESTEP_TABLE_ROWS, DenoisingNetwork, check_pe_variant
from .motion import MODEL_FPS
from .schedule import DiffusionSchedule

# Upstream's DitTalkingHead builds DenoisingNetwork without passing n_heads, so
# the network always has its constructor default, whatever args.n_heads says.
# The head count cannot be read from weight shapes; this is the only fixed value.
UPSTREAM_DENOISER_HEADS = 8
# Checkpoints written by joyvasa.train set this in their args: their n_heads is
# the network's, so it is honoured (upstream's args.n_heads is not, see above).
HEADS_WIRED_ARG = "n_heads_wired"


def denoiser_heads(options: Mapping[str, Any]) -> int:
    """The head count of a checkpoint's denoiser: args.n_heads where the file says
    it was wired into the network (``n_heads_wired``), else upstream's fixed 8."""
    if options.get(HEADS_WIRED_ARG) and options.get("n_heads") is not None:
        return int(options["n_heads"])
    return UPSTREAM_DENOISER_HEADS


@dataclass(frozen=True)
class MotionGeneratorConfig:
    motion_feat_dim: int  # 73 for the released model
    feature_dim: int  # d, 256
    n_prev_motions: int  # 10
    n_motions: int  # frames per window, 100
    n_layers: int  # decoder layers, 8
    n_heads: int  # 8
    ffn_dim: int  # 4 d
    n_diff_steps: int  # T, 50
    fps: float  # frame rate the model was trained at (MODEL_FPS for the released one)
    pad_mode: str  # last-window audio padding: 'zero' or 'replicate'
    audio_model: str  # 'hubert_zh', 'hubert_zh_ori', 'hubert', 'wav2vec2'
    audio_hidden_dim: int = 768
    # The positional encoding the weights were trained with (its one owner): the released file's
    # args do not say (its code had the constant-row bug); checkpoints written by joyvasa.train do.
    pe_variant: str = CONSTANT_ROW

    def __post_init__(self) -> None:
        check_pe_variant(self.pe_variant)

    @property
    def window_seconds(self) -> float:
        return self.n_motions / self.fps

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_checkpoint(cls, args: Any, state_dict: Mapping[str, torch.Tensor]) -> "MotionGeneratorConfig":
        """Read the configuration from a checkpoint's ``args`` and key shapes.

        Weight shapes decide the sizes (they are what the weights are); ``args``
        supplies what shapes cannot tell (fps, pad_mode, audio_model). ``args``
        may be an ``argparse.Namespace``, a dict or None (a bare state dict, e.g.
        a safetensors conversion: then the released values of fps, pad_mode,
        audio_model and pe_variant).
        """
        options = dict(vars(args)) if hasattr(args, "__dict__") else dict(args or {})
        start_motion = state_dict["start_motion_feat"]  # (1, n_prev, D)
        n_prev, motion_feat_dim = int(start_motion.shape[1]), int(start_motion.shape[2])
        feature_dim, audio_hidden_dim = (int(s) for s in state_dict["audio_feature_map.weight"].shape)
        n_tokens = int(state_dict["denoising_net.alignment_mask"].shape[0])
        layer_ids = {
            int(key.split(".")[3])
            for key in state_dict
            if key.startswith("denoising_net.transformer.layers.")
        }
        ffn_dim = int(state_dict["denoising_net.transformer.layers.0.linear1.weight"].shape[0])
        n_diff_steps = int(state_dict["diffusion_sched.betas"].shape[0]) - 1
        config = cls(
            motion_feat_dim=motion_feat_dim,
            feature_dim=feature_dim,
            n_prev_motions=n_prev,
            n_motions=n_tokens - n_prev,
            n_layers=len(layer_ids),
            n_heads=denoiser_heads(options),
            ffn_dim=ffn_dim,
            n_diff_steps=n_diff_steps,
            fps=float(options.get("fps", MODEL_FPS)),
            pad_mode=str(options.get("pad_mode", "zero")),
            audio_model=str(options.get("audio_model", "hubert_zh")),
            audio_hidden_dim=audio_hidden_dim,
            pe_variant=str(options.get("pe_variant", cls.pe_variant)),
        )
        # args that must agree with the weights (those upstream actually wires through).
        for name in ("motion_feat_dim", "feature_dim", "n_prev_motions", "n_motions", "n_diff_steps"):
            if name in options and options[name] is not None and int(options[name]) != getattr(config, name):
                raise ValueError(
                    f"The checkpoint's args say {name}={options[name]} but its weights have "
                    f"{name}={getattr(config, name)}; the file is inconsistent."
                )
        if config.feature_dim % config.n_heads:
            raise ValueError(f"The checkpoint's n_heads={config.n_heads} does not divide feature_dim={config.feature_dim}.")
        if config.pad_mode not in ("zero", "replicate"):
            raise ValueError(f"The checkpoint's pad_mode '{config.pad_mode}' is not 'zero' or 'replicate'.")
        return config


class MotionGenerator(nn.Module):
    """Weights of JoyVASA's motion generator, named as in the official checkpoint."""

    def __init__(self, config: MotionGeneratorConfig, audio_encoder: nn.Module):
        super().__init__()
        self.config = config
        d, motion_dim, n_prev = config.feature_dim, config.motion_feat_dim, config.n_prev_motions
        self.audio_encoder = audio_encoder
        self.audio_feature_map = nn.Linear(config.audio_hidden_dim, d)
        self.start_audio_feat = nn.Parameter(torch.zeros(1, n_prev, d))
        self.start_motion_feat = nn.Parameter(torch.zeros(1, n_prev, motion_dim))
        self.denoising_net = DenoisingNetwork(
            motion_feat_dim=motion_dim,
            feature_dim=d,
            n_prev_motions=n_prev,
            n_motions=config.n_motions,
            n_layers=config.n_layers,
            n_heads=config.n_heads,
            ffn_dim=config.ffn_dim,
            timestep_table_rows=max(DEFAULT_TIMESTEP_TABLE_ROWS, config.n_diff_steps + 1),
        )
        self.diffusion_sched = DiffusionSchedule(config.n_diff_steps, "cosine")
        self.null_audio_feat = nn.Parameter(torch.zeros(1, 1, d))
        self.eval()
        self.requires_grad_(False)

    @property
    def device(self) -> torch.device:
        return self.null_audio_feat.device

    def project_audio(self, hidden: torch.Tensor) -> torch.Tensor:
        """Encoder hidden states (B, n, 768) at the frame rate -> (B, n, d) conditions."""
        return self.audio_feature_map(hidden.to(self.null_audio_feat.dtype))

    def guided_denoiser(
        self,
        audio_feat: torch.Tensor,  # (1, n_motions, d) this window's projected audio
        prev_motion_feat: torch.Tensor,  # (1, n_prev, D)
        prev_audio_feat: torch.Tensor,  # (1, n_prev, d)
        cfg_scale: float,
        pe_variant: str | None = None,
    ):
        """``denoise(x_t, t) -> x0`` for one window, audio classifier-free guidance folded in.

        Upstream's single-condition "incremental" CFG: a batch of two, the first
        with the learned null token in place of this window's audio (previous
        motion and previous audio stay real in both),
        x0 = uncond + cfg_scale * (cond - uncond). The audio side of the batch is
        fixed over the steps and prepared once. cfg_scale == 1 runs the
        conditional entry alone (same result, half the work). ``pe_variant``: None = the
        weights' own (``config.pe_variant``), or one of :data:`PE_VARIANTS` to override it.
        """
        pe_variant = pe_variant or self.config.pe_variant
        net = self.denoising_net
        n_motions = audio_feat.shape[1]
        if cfg_scale == 1.0:
            memory = net.prepare_memory(audio_feat, prev_audio_feat)
            prev_motion = prev_motion_feat

            def denoise(x_t: torch.Tensor, t: int) -> torch.Tensor:
                return net.forward_with_memory(x_t, prev_motion, t, memory, pe_variant)[:, -n_motions:]

            return denoise

        null_audio = self.null_audio_feat.expand(audio_feat.shape[0], n_motions, -1)
        memory = net.prepare_memory(
            torch.cat([null_audio, audio_feat], dim=0), torch.cat([prev_audio_feat, prev_audio_feat], dim=0)
        )
        prev_motion = torch.cat([prev_motion_feat, prev_motion_feat], dim=0)
        batch = audio_feat.shape[0]

        def denoise(x_t: torch.Tensor, t: int) -> torch.Tensor:
            out = net.forward_with_memory(torch.cat([x_t, x_t], dim=0), prev_motion, t, memory, pe_variant)
            uncond, cond = out[:batch, -n_motions:], out[batch:, -n_motions:]
            return uncond + cfg_scale * (cond - uncond)

        return denoise


def warn_unwired_args(args: Any) -> None:
    """Upstream ignores args.n_layers / n_heads; say so if they disagree with the model."""
    options = dict(vars(args)) if hasattr(args, "__dict__") else dict(args or {})
    heads = options.get("n_heads")
    if heads is not None and int(heads) != UPSTREAM_DENOISER_HEADS and not options.get(HEADS_WIRED_ARG):
        warnings.warn(
            f"The checkpoint's args say n_heads={heads}; upstream never passes it to the network, "
            f"which always has {UPSTREAM_DENOISER_HEADS} heads. Using {UPSTREAM_DENOISER_HEADS}.",
            stacklevel=3,
        )
