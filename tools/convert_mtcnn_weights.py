"""Convert facenet-pytorch's MTCNN weights into the one safetensors file the library ships.

facenet-pytorch 2.6.0 (MIT, Copyright (c) 2019 Timothy Esler) bundles the three small MTCNN
networks as ``facenet_pytorch/data/{pnet,rnet,onet}.pt`` (plain state dicts). This script
reads them -- from the wheel itself or from an unpacked ``data`` folder -- with
``torch.load(weights_only=True)`` (no code execution) and writes their tensors, keys
prefixed ``pnet.``/``rnet.``/``onet.``, to ``joyvasa/face/detectors/mtcnn_weights.safetensors``.

    pip download --no-deps facenet-pytorch==2.6.0 -d /tmp/facenet
    python tools/convert_mtcnn_weights.py /tmp/facenet/facenet_pytorch-2.6.0-py3-none-any.whl
"""

from __future__ import annotations

import argparse
import io
import zipfile
from pathlib import Path

import torch
from safetensors.torch import save_file

NETWORKS = ("pnet", "rnet", "onet")
DEFAULT_OUTPUT = Path(__file__).resolve().parent.parent / "joyvasa" / "face" / "detectors" / "mtcnn_weights.safetensors"


def read_network_bytes(source: Path) -> dict[str, bytes]:
    """The raw ``<net>.pt`` files from a facenet-pytorch wheel or its ``data`` folder."""
    if source.is_dir():
        return {net: (source / f"{net}.pt").read_bytes() for net in NETWORKS}
    with zipfile.ZipFile(source) as wheel:
        return {net: wheel.read(f"facenet_pytorch/data/{net}.pt") for net in NETWORKS}


def convert(source: Path, output: Path = DEFAULT_OUTPUT) -> dict[str, torch.Tensor]:
    tensors = {}
    for net, raw in read_network_bytes(source).items():
        state = torch.load(io.BytesIO(raw), map_location="cpu", weights_only=True)
        for key, value in state.items():
            tensors[f"{net}.{key}"] = value.detach().contiguous()
    # One metadata entry: safetensors writes a dict's entries in no fixed order, and the
    # file should come out byte-identical on every run.
    save_file(tensors, str(output), metadata={
        "source": "facenet-pytorch 2.6.0 facenet_pytorch/data/{pnet,rnet,onet}.pt; "
                  "MIT, Copyright (c) 2019 Timothy Esler (see MTCNN_WEIGHTS_LICENSE.md)",
    })
    return tensors


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("source", type=Path, help="facenet_pytorch-2.6.0 wheel, or its facenet_pytorch/data folder")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    args = parser.parse_args(argv)
    tensors = convert(args.source, args.output)
    print(f"wrote {len(tensors)} tensors to {args.output} ({args.output.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
