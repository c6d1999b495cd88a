"""Files in: the two models and the photo.

    load_liveportrait(folder_or_files, ...)     -> LivePortraitModels   (the renderer)
    load_motion_generator(checkpoint, ...)      -> MotionGeneratorBundle (generator + template)
    read_image_file(path)                       -> (H, W, 3) float32 0..1
"""

from __future__ import annotations

from typing import Optional

import torch

from joyvasa.motion.loading import MotionGeneratorBundle
from joyvasa.pipeline.stages import ProgressCallback


def load_liveportrait(folder_or_files, *, device="cpu", dtype=torch.float32, kind=None,
                      channels_last=False, compile=False, callback: Optional[ProgressCallback] = None):
    """See :func:`joyvasa.liveportrait.load_liveportrait` (a folder or a dict of files).

    ``dtype`` bfloat16 (CPU with AVX512-BF16/AMX, or GPU) or float16 (GPU) runs W and G
    under autocast; ``channels_last`` and ``compile`` are the opt-in fast paths.
    ``python -m joyvasa.bench`` measures each, with its error against float32.
    ``callback(done, total)`` counts the files read.
    """
    from joyvasa.liveportrait import load_liveportrait as _load

    return _load(folder_or_files, device=device, dtype=dtype, kind=kind, channels_last=channels_last,
                 compile=compile, callback=callback)


def load_motion_generator(checkpoint_path, template_path, audio_encoder_path=None, device="cpu",
                          callback: Optional[ProgressCallback] = None) -> MotionGeneratorBundle:
    """JoyVASA checkpoint (.pt) + motion_template.pkl -> ``MotionGeneratorBundle(generator, template)``.

    ``callback(done, total)`` counts the loading steps (checkpoint, encoder, generator, template).
    """
    from joyvasa.motion.loading import load_motion_generator as _load

    if not template_path:
        raise ValueError(
            "The motion template (motion_template.pkl) is required: it turns the generator's "
            "normalised output into head pose and expression. Choose it next to the checkpoint."
        )
    return _load(checkpoint_path, template_path=template_path, audio_encoder_path=audio_encoder_path, device=device,
                 callback=callback)



def read_image_file(path) -> torch.Tensor:
    """A photo file -> (H, W, 3) float32 0..1."""
    import numpy as np
    from PIL import Image

    try:
        with Image.open(path) as handle:
            return torch.from_numpy(np.asarray(handle.convert("RGB"), dtype=np.float32) / 255.0)
    except OSError as err:
        raise ValueError(f"Could not read the image '{path}': {err}") from None
