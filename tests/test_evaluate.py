"""python -m joyvasa.evaluate: two checkpoints on a toy set (tiny renderer, stand-in SyncNet and
motion generator) give one table, Markdown and CSV, with every column filled."""

from __future__ import annotations

import csv
import dataclasses
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch

from joyvasa.bench.synthetic import neutral_motion_template, synthetic_motion_bundle
from joyvasa.motion import MotionGeneratorBundle
from tests.recipe import syncnet_recipe_state_dict
from tests.tiny_renderer import tiny_renderer

TOY_FLAGS = ["--fps", "10", "--no-stitching", "--sampler", "ddim", "--steps", "2", "--face", "whole", "--vshift", "3"]


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    folder = tmp_path_factory.mktemp("evaluate")
    rate = 16000
    t = np.arange(int(rate * 1.0)) / rate
    speech = (0.3 * np.sin(2 * np.pi * 180 * t) * (np.sin(2 * np.pi * 4 * t) > 0)).astype(np.float32)
    soundfile.write(folder / "held_out.wav", speech, rate)
    torch.save(syncnet_recipe_state_dict(), folder / "syncnet_v2.model")
    for name in ("released.pt", "trained.pt", "motion_template.pkl", "trained_template.pkl", "lp"):
        (folder / name).touch()
    released = synthetic_motion_bundle()
    # "trained": the same network decoded with its own data's template, so its motion differs
    wider = dataclasses.replace(neutral_motion_template(), std_exp=torch.full((63,), 0.03),
                                min_yaw=torch.tensor([-20.0]), max_yaw=torch.tensor([20.0]))
    trained = MotionGeneratorBundle(generator=released.generator, template=wider)
    return {"folder": folder, "bundles": {("released.pt", "motion_template.pkl"): released,
                                          ("trained.pt", "trained_template.pkl"): trained}}


def test_two_checkpoints_make_one_table(toy, monkeypatch, capsys):
    from joyvasa import pipeline
    from joyvasa.evaluate.cli import main

    folder = toy["folder"]
    monkeypatch.setattr(pipeline, "load_liveportrait", lambda *a, **k: tiny_renderer())
    monkeypatch.setattr(pipeline, "load_motion_generator",  # each checkpoint must come with its own template
                        lambda path, template, *a, **k: toy["bundles"][(Path(path).name, Path(template).name)])
    out = folder / "table"
    code = main(["--checkpoint", f"released={folder / 'released.pt'}", "--checkpoint", str(folder / "trained.pt"),
                 "--template", str(folder / "motion_template.pkl"), "--template", str(folder / "trained_template.pkl"),
                 "--liveportrait", str(folder / "lp"), "--syncnet", str(folder / "syncnet_v2.model"), "--audio", str(folder / "held_out.wav"),
                 "--out", str(out), *TOY_FLAGS])
    assert code == 0, capsys.readouterr().err
    assert "evaluation.md" in capsys.readouterr().out
    markdown = (out / "evaluation.md").read_text()
    assert "| LSE-C | LSE-D | offset (frames) |" in markdown
    assert "| released |" in markdown and "| trained |" in markdown
    with open(out / "evaluation.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["variant"] for r in rows] == ["released", "trained"]
    for row in rows:
        assert row["clip"] == "joyvasa_astronaut + held_out" and row["frames"] == "10"
        for key in ("lse_c", "lse_d", "offset", "lip_r", "lip_lag", "head_yaw", "head_speed", "blinks",
                    "render_s", "score_s"):
            assert row[key] != "" and np.isfinite(float(row[key])), (key, row)
        assert row["sampler"] == "ddim" and row["checkpoint"].endswith(".pt")
    assert [Path(r["template"]).name for r in rows] == ["motion_template.pkl", "trained_template.pkl"]
    assert rows[0]["head_yaw"] != rows[1]["head_yaw"] or rows[0]["lip_r"] != rows[1]["lip_r"]


def test_missing_inputs_are_one_line(tmp_path, capsys):
    from joyvasa.evaluate.cli import main

    code = main(["--checkpoint", str(tmp_path / "nope.pt"), "--template", "t.pkl", "--liveportrait", "lp",
                 "--out", str(tmp_path)])
    assert code == 2 and "--checkpoint: " in capsys.readouterr().err
    code = main(["--checkpoint", "a.pt", "--checkpoint", "b.pt", "--checkpoint", "c.pt", "--template", "t.pkl",
                 "--template", "u.pkl", "--liveportrait", "lp", "--out", str(tmp_path)])
    assert code == 2 and "one per --checkpoint (3), not 2" in capsys.readouterr().err
