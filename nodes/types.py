"""Socket types for the data that flows between JoyVASA nodes.

Each is an opaque Python object (documented in web/docs): ComfyUI only checks
that an output of one type goes into an input of the same type.
"""

from comfy_api.latest import io

# nodes.models.ManagedModel around joyvasa.liveportrait.LivePortraitModels (the renderer)
LivePortrait = io.Custom("JOYVASA_LIVEPORTRAIT")
# nodes.models.ManagedModel around joyvasa.motion.MotionGeneratorBundle (generator + motion template)
MotionGenerator = io.Custom("JOYVASA_MOTION_GENERATOR")
# joyvasa.pipeline.Source: the cropped portrait's appearance volume, keypoints and crop
Source = io.Custom("JOYVASA_SOURCE")
# joyvasa.motion.AudioFeatures: speech features per window at a chosen fps
AudioFeatures = io.Custom("JOYVASA_AUDIO_FEATURES")
# joyvasa.motion.Motion: per-frame expression, head pose, scale and translation
Motion = io.Custom("JOYVASA_MOTION")
