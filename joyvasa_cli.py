"""The JoyVASA command line from any folder: ``python path/to/ComfyUI-JoyVASA/joyvasa_cli.py --help``.

From the ComfyUI folder: ``python custom_nodes/ComfyUI-JoyVASA/joyvasa_cli.py --image face.png
--audio speech.wav --out output/talk.mp4`` (the models are found in ComfyUI's models folder).
Inside the pack folder ``python -m joyvasa`` is the same command. See docs/command-line.md.
"""

import os
import sys

if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # the pack root, where joyvasa/ lives
    from joyvasa.cli import main

    sys.exit(main(prog=f"python {sys.argv[0]}"))
