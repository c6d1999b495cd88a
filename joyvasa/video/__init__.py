"""Video in and out, and motion taken from video.

    reading.py         frames from a file or a tensor, resampled to the motion rate (PyAV)
    writing.py         frames (+ audio) streamed into an H.264 .mp4 (PyAV)
    crop_options.py    the crop settings (one window per shot, tracked, none), declared once
    motion.py          shots, the face crop over a video and the motion extractor -> Motion
    preview.py         keypoints and head axes drawn over the crop (the motion preview)
    extract_motion.py  ``python -m joyvasa.extract_motion``

Nothing is imported here: import the module you need.
"""
