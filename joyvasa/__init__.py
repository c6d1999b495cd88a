"""JoyVASA: audio-driven portrait animation on LivePortrait's face representation.

Pure PyTorch, no ComfyUI import. Sub-packages:

- ``joyvasa.liveportrait``: the five LivePortrait networks and the keypoint math.
- ``joyvasa.audio``: audio to 16 kHz mono, HuBERT / wav2vec2 features.
- ``joyvasa.motion``: the diffusion motion generator, samplers, templates, motion data.
- ``joyvasa.face``: detection, similarity crop and paste-back.
- ``joyvasa.checkpoints``: safe reading of every supported checkpoint format.
- ``joyvasa.pipeline``: the stage functions the ComfyUI nodes and the CLI share.
"""

__version__ = "0.1.0"
