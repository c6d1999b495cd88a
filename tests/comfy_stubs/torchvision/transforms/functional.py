"""Placeholders for names imported at module level; calling them raises."""


def _missing(name):
    def function(*_args, **_kwargs):
        raise NotImplementedError(f"torchvision.transforms.functional.{name} is not available in the JoyVASA test stand-in")

    function.__name__ = name
    return function


pil_to_tensor = _missing("pil_to_tensor")
to_tensor = _missing("to_tensor")


def __getattr__(name):
    if name.startswith("__"):
        raise AttributeError(name)
    raise ImportError(f"torchvision.transforms.functional.{name} is not available in the JoyVASA test stand-in")
