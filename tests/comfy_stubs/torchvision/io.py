"""Empty ``torchvision.io`` stand-in (transformers imports it at module level)."""


def __getattr__(name):
    if name.startswith("__"):
        raise AttributeError(name)
    raise ImportError(f"torchvision.io.{name} is not available in the JoyVASA test stand-in")
