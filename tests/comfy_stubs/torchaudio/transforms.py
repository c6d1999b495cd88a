"""Empty: every attribute raises ImportError when used."""


def __getattr__(name):
    if name.startswith("__"):
        raise AttributeError(name)
    raise ImportError(f"torchaudio.transforms.{name} is not available in the JoyVASA test stand-in")
