"""The one error type of the face package."""


class FaceCropError(ValueError):
    """A face could not be found, cropped or pasted; the message says which input and what to do."""
