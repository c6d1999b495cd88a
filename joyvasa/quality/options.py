"""The lip-sync scorer's settings, declared once (the node's widgets and the CLI's flags are made
from them, as for the pipeline's stages in :mod:`joyvasa.options`)."""

from __future__ import annotations

from dataclasses import dataclass

from joyvasa.options import _Checked, setting

FACE_MODES = ("detect", "whole")
SYNC_DETECTORS = ("mtcnn", "auto", "insightface")


@dataclass(frozen=True)
class SyncOptions(_Checked):
    face: str = setting(
        "detect", "detect: find and track the one face and crop it as syncnet_python does (square, room for the "
        "chin, 224 x 224); whole: the frames already are face crops (Render without paste-back).",
        choices=FACE_MODES)
    face_detector: str = setting(
        "mtcnn", "Face detector for face = detect (mtcnn ships with the pack; auto: InsightFace when its files "
        "are installed).", choices=SYNC_DETECTORS)
    vshift: int = setting(15, "Audio shifts searched, in frames each way (syncnet_python: 15).", min=1, max=50)
