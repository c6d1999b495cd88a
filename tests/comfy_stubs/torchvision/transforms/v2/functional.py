"""Empty ``torchvision.transforms.v2.functional`` stand-in."""


def __getattr__(name):
    if name.startswith("__"):
        raise AttributeError(name)
    raise ImportError(f"torchvision.transforms.v2.functional.{name} is not available in the JoyVASA test stand-in")
