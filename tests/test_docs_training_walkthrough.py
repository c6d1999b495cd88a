"""The "Train your own motion generator" walk-through (docs/training.md, linked from the README)
cannot drift from the commands:
each command in its code blocks parses with the real argparse parser, and every --flag it
names exists in one of them (or is the other tools' own flag)."""

import argparse
import re
import shlex

from tests.comfy_server import REPO_ROOT

OTHER_TOOLS_FLAGS = {"--local-dir", "--nproc_per_node", "--logdir"}  # hf download, torchrun, tensorboard


def _section() -> str:
    text = (REPO_ROOT / "docs" / "training.md").read_text(encoding="utf-8")
    assert text.startswith("# Train your own motion generator\n")
    assert "(docs/training.md)" in (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    return text


def _commands() -> list[str]:
    lines = []
    for block in re.findall(r"```bash\n(.*?)```", _section(), flags=re.S):
        lines += [line for line in block.replace("\\\n", " ").splitlines() if line and not line.startswith("#")]
    return lines


def _parsers() -> dict[str, argparse.ArgumentParser]:
    from joyvasa import cli
    from joyvasa.training import cli as train_cli
    from joyvasa.training import prepare

    return {"joyvasa.prepare": prepare.build_parser(), "joyvasa.train": train_cli.build_parser(),
            "joyvasa": cli.build_parser()}


def test_every_walkthrough_command_parses():
    parsers = _parsers()
    parsed = []
    for line in _commands():
        words = shlex.split(line)
        if words[:2] != ["python", "-m"] or words[2] not in parsers:
            assert words[0] in ("hf", "mkdir", "cp", "python"), f"unchecked command in docs/training.md: {line}"
            continue
        args = parsers[words[2]].parse_args(words[3:])  # exits (SystemExit) on an unknown flag
        parsed.append((words[2], args))
    assert sorted({name for name, _ in parsed}) == ["joyvasa", "joyvasa.prepare", "joyvasa.train"]
    trains = [args for name, args in parsed if name == "joyvasa.train"]
    assert any(args.init for args in trains) and any(args.audio_encoder for args in trains)
    assert not any(args.init and args.audio_encoder for args in trains)  # refused by the trainer


def test_every_flag_the_walkthrough_names_exists():
    known = set(OTHER_TOOLS_FLAGS)
    for parser in _parsers().values():
        known |= {flag for action in parser._actions for flag in action.option_strings}
    named = set(re.findall(r"(?<![\w-])--[a-z][a-z0-9_-]*", _section()))
    assert named and not named - known, f"flags in docs/training.md that no command has: {sorted(named - known)}"

