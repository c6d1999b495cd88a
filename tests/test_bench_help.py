"""The benchmarks' --help: descriptions whole, every option described, switches' defaults not misstated."""

from __future__ import annotations

import importlib
import re

import pytest

BENCHMARKS = ("joyvasa.bench.cli", "joyvasa.bench.dub", "joyvasa.bench.motion", "joyvasa.bench.train")


def help_of(module: str, capsys) -> str:
    with pytest.raises(SystemExit) as stop:
        importlib.import_module(module).main(["--help"])
    assert stop.value.code == 0
    return capsys.readouterr().out


@pytest.mark.parametrize("module", BENCHMARKS)
def test_every_option_is_described_and_no_switch_claims_a_default_value(module, capsys):
    text = help_of(module, capsys)
    assert "(default: True)" not in text and "(default: False)" not in text
    options = text.split("options:", 1)[1]
    lines = options.splitlines()
    for index, line in enumerate(lines):
        match = re.match(r"^  (-\S.*?)(?:\s{2,}(\S.*))?$", line)
        if match and not match.group(2):  # the flag alone on its line: its help is on the next one
            assert index + 1 < len(lines) and lines[index + 1].startswith(" " * 20), f"{module}: {line.strip()}"


def test_switches_say_what_happens_without_them(capsys):
    assert re.search(r"--no-reference\s+skip the reference-style render loop \(it runs by\s+default\)",
                     help_of("joyvasa.bench.cli", capsys))
    assert "(it runs by default)" in " ".join(help_of("joyvasa.bench.train", capsys).split())


def test_the_dub_benchmark_description_is_whole(capsys):
    text = " ".join(help_of("joyvasa.bench.dub", capsys).split())
    assert "beside a still-portrait render of the same length (the goal: dubbing at most 1.5x the still render)." in text
