"""Every training setting, declared once: default, range or choices, help.

``TrainConfig`` is built like the stage options of :mod:`joyvasa.options` (fields made
with ``setting()``, checked on construction), so ``python -m joyvasa.train`` makes one
flag per field (``warmup_steps`` -> ``--warmup-steps``), ``--config FILE`` reads a JSON
(or TOML) file of the same names, and the run folder keeps the run's ``config.json``.
Resuming takes the stored config; a flag that contradicts it is refused (see
:func:`merge_for_resume`), except the bookkeeping settings marked ``resume="free"``.

``released`` is the size of the published checkpoint (d 256, 8 layers, 8 heads, FFN
1024, n_motions 100, n_prev 10, 50 diffusion steps), the one size upstream's code loads;
``small`` and ``tiny`` are for experiments and tests. The motion vector is 70-dim (63
expression + 7 pose, upstream ``train.py``'s default): the released file's extra dims
70..72 are never decoded, so a new model has no use for them. Fine-tuning a 73-dim
checkpoint (``--init``) keeps its 73 dims; the targets are zero-padded there.

To add a setting: one more ``train_setting(...)`` field below; the CLI flag, the config
file key and the resume check follow from it.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from joyvasa.audio.encoder import ENCODER_KINDS
from joyvasa.motion import PE_VARIANTS
from joyvasa.options import OptionError, _Checked, setting

MODEL_SIZES = {
    "released": dict(feature_dim=256, n_layers=8, n_heads=8, ffn_dim=1024),
    "small": dict(feature_dim=128, n_layers=4, n_heads=4, ffn_dim=512),
    "tiny": dict(feature_dim=32, n_layers=2, n_heads=2, ffn_dim=64),
}
UPSTREAM_LOADABLE_SIZES = ("released",)  # upstream hard-codes 8 layers, 8 heads, FFN 4 d
MOTION_FEAT_DIM = 70
AUDIO_TRAINING = ("frozen", "finetune")
LR_SCHEDULES = ("constant", "cosine")  # upstream's --scheduler None / WarmupThenDecay
CLIP_WEIGHTINGS = ("clip", "frames", "dataset")  # joyvasa.training.dataset
WARMUP_SHARE = 0.1  # a warm-up is at most this share of max_steps unless long_warmup
# Settings added after runs were made: a stored config.json without them keeps the behaviour it was made with.
LEGACY_VALUES = {"lr_schedule": "cosine", "clip_weighting": "frames", "cache_refresh_steps": 0}  # encoder CNN is frozen in both
RELEASED_PE_VARIANT, FIXED_PE_VARIANT = PE_VARIANTS  # the released weights' bug / upstream's later fix
CONFIG_FILENAME = "config.json"


def train_setting(default, help: str, *, resume: str = "fixed", **limits) -> Any:
    """:func:`joyvasa.options.setting` plus whether a resumed run may change it:
    ``fixed`` (anything that shapes the weights) or ``free`` (bookkeeping)."""
    declared = setting(default, help, **limits)
    return dataclasses.field(default=default, metadata={**declared.metadata, "resume": resume})


@dataclass(frozen=True)
class TrainConfig(_Checked):
    # -- model --------------------------------------------------------------------------
    size: str = train_setting("released", "Model size. released: d 256, 8 layers, 8 heads (the published "
                              "checkpoint's; the only size upstream's code loads). small 128/4/4, tiny 32/2/2: "
                              "experiments, loaded by this project only.", choices=tuple(MODEL_SIZES))
    motion_feat_dim: int = train_setting(MOTION_FEAT_DIM, "Motion vector size (63 expression + 7 pose); "
                                         "--init takes the checkpoint's.", min=70, max=73)
    n_motions: int = train_setting(100, "Frames per window (100 = 4 s at 25 fps); --init takes the "
                                   "checkpoint's.", min=10, max=500)
    n_prev_motions: int = train_setting(10, "Frames of the previous window a window is conditioned on "
                                        "(released 10, upstream train.py 25).", min=3, max=100)
    n_diff_steps: int = train_setting(50, "Diffusion steps T.", min=1, max=1000)
    fps: int = train_setting(25, "Motion frame rate the data was made at.", min=1, max=120)
    audio_model: str = train_setting("hubert_zh", "Encoder family as the checkpoint's args name it (a "
                                     "wav2vec2 --audio-encoder folder sets wav2vec2).", choices=tuple(ENCODER_KINDS))
    pe_variant: str = train_setting(FIXED_PE_VARIANT, "Positional encoding of the denoiser. per_position: "
                                    "upstream's fixed encoding (new runs). constant_row: the released weights' "
                                    "(--init of the released file takes it).", choices=PE_VARIANTS)
    pe_dropout: float = train_setting(0.1, "Dropout after the positional encoding (upstream 0.1; training only).",
                                      min=0.0, max=0.9)
    # -- objective (upstream's two-clip scheme) -------------------------------------------
    trunc_prob_clip0: float = train_setting(0.3, "Probability that clip 0 is truncated at a random frame.",
                                            min=0.0, max=1.0)
    trunc_prob_clip1: float = train_setting(0.4, "Probability that clip 1 is truncated at a random frame.",
                                            min=0.0, max=1.0)
    null_audio_prob: float = train_setting(0.1, "Audio-condition dropout (the null token classifier-free "
                                           "guidance uses).", min=0.0, max=1.0)
    audio_training: str = train_setting("finetune", "finetune: the encoder's transformer trains (upstream); "
                                        "frozen: only the DiT side (cheaper). The CNN is frozen in both.",
                                        choices=AUDIO_TRAINING)
    spec_augment: bool = train_setting(True, "While fine-tuning, mask time spans of the encoder's features "
                                       "with its trainable masked_spec_embed as its config says (upstream; "
                                       "chinese-hubert-base: p 0.05, spans of 10, at least 2).")
    clip_weighting: str = train_setting("clip", "Which clip a sample comes from. clip: every clip equally often, "
                                        "a random window inside (upstream). frames: in proportion to its length. "
                                        "dataset: every value of the manifest's dataset column equally often "
                                        "(balancing sources, as the paper oversampled).", choices=CLIP_WEIGHTINGS)
    feature_cache: bool = train_setting(False, "Frozen encoder only: encode the clips' windows once per refresh "
                                        "and reuse the features (see cache_refresh_steps).")
    cache_refresh_steps: int = train_setting(2000, "With feature_cache: every this many steps the windows are "
                                             "cut again at a new random phase per clip (one encoder pass over "
                                             "the data); 0 = never (crops then always start on the same "
                                             "window boundaries).", min=0, max=10**8)
    cache_truncated: bool = train_setting(False, "With feature_cache: also cache each window truncated at one "
                                          "cut per window and refresh (fast; a window keeps its cut until the "
                                          "next refresh); off: truncated windows are encoded live at a new "
                                          "cut every step (upstream's spread of cuts, about 2.5x slower on a CPU).")
    # -- optimisation ---------------------------------------------------------------------
    batch_size: int = train_setting(16, "Samples per step and process (upstream 16).", min=1, max=4096)
    accumulate_steps: int = train_setting(1, "Batches whose gradients are summed before one update "
                                          "(effective batch = batch_size x this).", min=1, max=1024)
    lr: float = train_setting(1e-4, "Peak learning rate (upstream 1e-4).", min=0.0, max=1.0)
    weight_decay: float = train_setting(0.0, "AdamW weight decay (0 = upstream's Adam).", min=0.0, max=1.0)
    lr_schedule: str = train_setting("constant", "constant: lr after the warm-up (upstream's default, --scheduler "
                                     "None). cosine: down to min_lr_ratio x lr at max_steps (upstream's "
                                     "WarmupThenDecay).", choices=LR_SCHEDULES)
    warmup_steps: int = train_setting(0, "Linear warm-up steps (upstream: none), at most 10 % of max_steps "
                                      "unless long_warmup.", min=0, max=10**7)
    long_warmup: bool = train_setting(False, "Let warmup_steps exceed 10 % of max_steps.")
    max_steps: int = train_setting(50000, "Optimiser steps; a cosine decay ends here (paper: 20 000).",
                                   min=1, max=10**8)
    min_lr_ratio: float = train_setting(0.02, "lr_schedule cosine: the learning rate at max_steps, relative "
                                        "to lr.", min=0.0, max=1.0)
    grad_clip: float = train_setting(2.0, "Gradient-norm clipping (upstream 2.0).", min=0.0, max=1e6)
    ema_decay: float = train_setting(0.0, "EMA of the weights (e.g. 0.999; checkpoints then hold it); 0 = off.",
                                     min=0.0, max=0.99999)
    bf16: bool = train_setting(True, "bf16 autocast where bf16 is native: GPUs of compute capability 8.0+ and "
                               "CPUs with AVX512-BF16 / AMX; fp32 elsewhere.")
    compile: bool = train_setting(False, "torch.compile the denoiser (meant for GPUs; on a 2-core CPU "
                                  "it was slower, see the training README).")
    seed: int = train_setting(0, "Seeds everything: initial weights, data order, dropout, masks.",
                              min=0, max=2**31 - 1)
    # -- bookkeeping ------------------------------------------------------------------------
    val_every: int = train_setting(500, "Validation loss every this many steps.", min=1, max=10**8, resume="free")
    val_batches: int = train_setting(4, "Fixed validation batches.", min=0, max=10**5, resume="free")
    save_every: int = train_setting(1000, "Checkpoint every this many steps.", min=1, max=10**8, resume="free")
    log_every: int = train_setting(10, "A log.csv row every this many steps.", min=1, max=10**8, resume="free")
    num_workers: int = train_setting(0, "DataLoader worker processes that make batches ahead (0 = in the "
                                     "training process); the batches are the same either way.", min=0, max=256,
                                     resume="free")
    keep_last: int = train_setting(3, "Step checkpoints kept (each .pt with its .state.pt); 0 keeps all. "
                                   "checkpoints/best.pt (lowest validation loss) is kept besides.",
                                   min=0, max=10**6, resume="free")
    tensorboard: bool = train_setting(False, "TensorBoard scalars in RUN_DIR/tensorboard beside log.csv (needs "
                                      "pip install tensorboard).", resume="free")
    quality_every: int = train_setting(2000, "Every this many steps sample held-out clips and log lip-loudness "
                                       "correlation and lag and seam jumps (0 = never).", min=0, max=10**8,
                                       resume="free")
    quality_clips: int = train_setting(2, "Held-out clips the quality pass samples (up to 3 windows each).",
                                       min=1, max=1000, resume="free")
    quality_steps: int = train_setting(10, "DDIM steps of the quality pass.", min=1, max=1000, resume="free")
    preview: bool = train_setting(True, "The quality pass also writes RUN_DIR/previews/step_NNNNNNN.mp4 "
                                  "(keypoints of one held-out clip's sampled motion, with its audio).",
                                  resume="free")

    def __post_init__(self):
        super().__post_init__()
        if self.n_motions <= self.n_prev_motions:
            raise OptionError(f"Need n_motions > n_prev_motions, got {self.n_motions} and {self.n_prev_motions}.")
        if self.feature_cache and self.audio_training != "frozen":
            raise OptionError("feature_cache needs audio_training frozen (fine-tuned features change every step).")

    @property
    def warmup(self) -> int:
        """The warm-up steps used: warmup_steps, at most 10 % of max_steps unless long_warmup."""
        if self.long_warmup:
            return min(self.warmup_steps, self.max_steps)
        return min(self.warmup_steps, int(WARMUP_SHARE * self.max_steps))

    @property
    def model_size(self) -> dict:
        return dict(MODEL_SIZES[self.size])

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    updated = _Checked.replace

    # -- files ------------------------------------------------------------------------------

    @classmethod
    def read_file(cls, path) -> dict:
        """Settings from a JSON (or ``.toml``) file of field names; unknown names are refused."""
        path = Path(path)
        try:
            if path.suffix.lower() == ".toml":
                import tomllib

                values = tomllib.loads(path.read_text(encoding="utf-8"))
            else:
                values = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as err:
            raise OptionError(f"Config file '{path}' could not be read ({err}).") from None
        if not isinstance(values, dict):
            raise OptionError(f"Config file '{path}' must hold one object of setting names.")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise OptionError(f"Config file '{path}' has unknown setting(s) {', '.join(unknown)}; "
                              f"known: {', '.join(sorted(known))}.")
        return values

    def write(self, run_dir) -> Path:
        """``RUN_DIR/config.json`` (written whole or not at all)."""
        path = Path(run_dir) / CONFIG_FILENAME
        partial = path.with_name(path.name + ".partial")
        partial.write_text(json.dumps(self.to_dict(), indent=2) + "\n", encoding="utf-8")
        partial.replace(path)
        return path


def stored_config(run_dir) -> TrainConfig | None:
    """The config a run folder keeps, or None for a new folder."""
    path = Path(run_dir) / CONFIG_FILENAME
    return TrainConfig.from_values({**LEGACY_VALUES, **TrainConfig.read_file(path)}) if path.is_file() else None


def merge_for_resume(stored: TrainConfig, given: dict, source: str) -> TrainConfig:
    """The stored config with ``given``'s values of the ``free`` settings; a ``fixed``
    setting given with another value is refused, naming it (``source`` says where it came from)."""
    fields = {f.name: f for f in dataclasses.fields(TrainConfig)}
    conflicts, free = [], {}
    for name, value in given.items():
        checked = TrainConfig.from_values({**stored.to_dict(), name: value})
        if getattr(checked, name) == getattr(stored, name):
            continue
        if fields[name].metadata.get("resume") == "free":
            free[name] = value
        else:
            conflicts.append(f"{name} = {value!r} (the run has {getattr(stored, name)!r})")
    if conflicts:
        raise OptionError(f"This run folder already has a config ({CONFIG_FILENAME}) and resuming keeps it; "
                          f"{source} contradicts it: {'; '.join(conflicts)}. Leave those out, or start a new "
                          "run folder.")
    return stored.replace(**free)
