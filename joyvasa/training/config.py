"""Training configuration: model sizes and optimisation settings.

``released`` is the size of the published checkpoint (d 256, 8 layers, 8 heads,
FFN 1024, n_motions 100, n_prev 10, 50 diffusion steps); ``small`` and ``tiny``
are for experiments and tests. The motion vector is 70-dim (63 expression + 7
pose, upstream ``train.py``'s default): the released file's extra dims 70..72
are never decoded, so a new model has no use for them. Fine-tuning a 73-dim
checkpoint (``--init``) keeps its 73 dims; the targets are zero-padded there.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace

MODEL_SIZES = {
    "released": dict(feature_dim=256, n_layers=8, n_heads=8, ffn_dim=1024),
    "small": dict(feature_dim=128, n_layers=4, n_heads=4, ffn_dim=512),
    "tiny": dict(feature_dim=32, n_layers=2, n_heads=2, ffn_dim=64),
}
MOTION_FEAT_DIM = 70
AUDIO_TRAINING = ("frozen", "finetune")  # encoder CNN is frozen in both


@dataclass
class TrainConfig:
    size: str = "released"
    motion_feat_dim: int = MOTION_FEAT_DIM
    n_motions: int = 100  # frames per window (4 s at 25 fps)
    n_prev_motions: int = 10
    n_diff_steps: int = 50
    fps: int = 25
    audio_model: str = "hubert_zh"  # as the checkpoint's args names it; decides HuBERT vs wav2vec2
    pe_variant: str = "constant_row"  # what the nodes sample with by default
    # Two-clip scheme (upstream train.py).
    trunc_prob_clip0: float = 0.3
    trunc_prob_clip1: float = 0.4
    null_audio_prob: float = 0.1  # audio-condition dropout, so classifier-free guidance works
    audio_training: str = "finetune"  # upstream fine-tunes HuBERT (CNN frozen); "frozen" is cheaper
    # Optimisation.
    batch_size: int = 16
    lr: float = 1e-4
    weight_decay: float = 0.0  # AdamW; 0 = upstream's Adam
    warmup_steps: int = 2000
    max_steps: int = 50000
    min_lr_ratio: float = 0.02
    grad_clip: float = 2.0
    ema_decay: float = 0.0  # 0 = off; e.g. 0.999 keeps an EMA copy that the checkpoints hold
    bf16: bool = True  # autocast on CUDA only
    # Bookkeeping.
    val_every: int = 500
    val_batches: int = 4
    save_every: int = 1000
    log_every: int = 10
    seed: int = 0
    num_workers: int = 0  # DataLoader worker processes making batches ahead (0 = in the training process)
    keep_last: int = 3  # step checkpoints kept (0 = all); best.pt is kept besides
    tensorboard: bool = False  # TensorBoard scalars in RUN_DIR/tensorboard (needs the tensorboard package)
    quality_every: int = 2000  # sample held-out clips: lip sync, seam jumps, a preview video (0 = never)
    quality_clips: int = 2  # held-out clips sampled by the quality pass
    quality_steps: int = 10  # DDIM steps of the quality pass
    preview: bool = True  # the quality pass writes RUN_DIR/previews/step_NNNNNNN.mp4
    extra: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.size not in MODEL_SIZES:
            raise ValueError(f"size must be one of {', '.join(MODEL_SIZES)}, not '{self.size}'.")
        if self.audio_training not in AUDIO_TRAINING:
            raise ValueError(f"audio_training must be one of {', '.join(AUDIO_TRAINING)}, not '{self.audio_training}'.")
        if self.n_motions <= self.n_prev_motions or self.n_prev_motions < 3:
            raise ValueError(f"Need n_motions > n_prev_motions >= 3, got {self.n_motions} and {self.n_prev_motions}.")

    @property
    def model_size(self) -> dict:
        return dict(MODEL_SIZES[self.size])

    def to_dict(self) -> dict:
        return asdict(self)

    def updated(self, **changes) -> "TrainConfig":
        return replace(self, **changes)
