"""What the nodes need from ComfyUI's runtime: devices, precision, progress and Cancel.

Imported only from node modules (inside ComfyUI). ``comfy.*`` is imported in the
functions so the module stays cheap to import.
"""

from __future__ import annotations

from typing import Optional

import torch

DEVICES = ("auto", "cpu")


def pick_device(choice: str) -> torch.device:
    """``auto``: ComfyUI's compute device (honours --cpu, --gpu-only, ...)."""
    if choice == "cpu":
        return torch.device("cpu")
    import comfy.model_management as mm

    return mm.get_torch_device()


def offload_device_for(load_device: torch.device) -> torch.device:
    """Where ComfyUI parks the weights between runs (the CPU, unless --gpu-only / --highvram)."""
    if load_device.type == "cpu":
        return load_device
    import comfy.model_management as mm

    return mm.unet_offload_device()


def pick_dtype(choice: str, device: torch.device) -> torch.dtype:
    """``auto``: the library's choice for this device (joyvasa.precision: bf16 on CUDA 8.0+, fp16 on
    Volta / Turing RTX, else fp32), or fp32 when ComfyUI runs with --force-fp32."""
    from joyvasa.precision import parse_precision

    if choice == "auto" and device.type != "cpu":
        import comfy.model_management as mm

        if getattr(mm.args, "force_fp32", False):
            return torch.float32
    return parse_precision(choice, device)


def intermediate_device() -> torch.device:
    import comfy.model_management as mm

    return mm.intermediate_device()


def after_heavy_work() -> None:
    import comfy.model_management as mm

    mm.soft_empty_cache()


def check_cancel() -> None:
    import comfy.model_management as mm

    mm.throw_exception_if_processing_interrupted()


class Progress:
    """A ``callback(done, total)`` for the library that drives ComfyUI's progress bar.

    ComfyUI's progress hook raises ``InterruptProcessingException`` when the user
    presses Cancel; the explicit check makes that true outside the server too.
    ``preview(done, total, image)`` also shows an IMAGE [1, H, W, 3] on the node.
    """

    def __init__(self, node_id: Optional[str] = None, total: int = 1):
        import comfy.utils

        self._bar = comfy.utils.ProgressBar(max(1, int(total)), node_id=node_id)

    def __call__(self, done: int, total: int) -> None:
        check_cancel()
        self._bar.update_absolute(int(done), max(1, int(total)))

    def preview(self, done: int, total: int, image: torch.Tensor) -> None:
        """Update the bar with a preview picture: ``image`` (H, W, 3) float 0..1."""
        from PIL import Image

        check_cancel()
        array = (image.detach().float().clamp(0, 1).cpu().numpy() * 255).round().astype("uint8")
        picture = Image.fromarray(array)
        picture.thumbnail((512, 512))
        self._bar.update_absolute(int(done), max(1, int(total)), ("JPEG", picture, 512))


class StageProgress:
    """One progress bar over named stages; each stage's ``(done, total)`` fills its share."""

    def __init__(self, node_id: Optional[str], stages: tuple[str, ...]):
        self._stages = stages
        self._scale = 1000
        self._progress = Progress(node_id, len(stages) * self._scale)

    def _absolute(self, stage: str, done: int, total: int) -> int:
        fraction = min(1.0, max(0.0, done / max(1, total)))
        return int((self._stages.index(stage) + fraction) * self._scale)

    def report(self, stage: str, done: int, total: int) -> None:
        """The library's ``progress(stage, done, total)``; checks Cancel."""
        self._progress(self._absolute(stage, done, total), len(self._stages) * self._scale)

    def preview(self, stage: str, done: int, total: int, image: torch.Tensor) -> None:
        self._progress.preview(self._absolute(stage, done, total), len(self._stages) * self._scale, image)


def node_id_of(node_cls) -> Optional[str]:
    hidden = getattr(node_cls, "hidden", None)
    return getattr(hidden, "unique_id", None) if hidden is not None else None


def progress_for(node_cls) -> Progress:
    return Progress(node_id_of(node_cls))
