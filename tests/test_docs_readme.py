"""The README opens with a quick start that holds (minimum ComfyUI and repository as pyproject.toml
states them, the first template and a picture within one screen), then a table of contents whose
links all lead somewhere; the files that point into it name headings that exist."""

from __future__ import annotations

import re

from tests.comfy_server import REPO_ROOT

README = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
PYPROJECT = (REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8")  # tomllib needs Python 3.11


def _toml(key: str) -> str:
    return re.search(rf'^"?{re.escape(key)}"? = "([^"]+)"', PYPROJECT, flags=re.M).group(1)


ONE_SCREEN = 40  # lines of Markdown before the first picture


def _anchor(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def _anchors(text: str) -> set[str]:
    return {_anchor(line.lstrip("#")) for line in text.splitlines() if line.startswith("#")}


def test_the_quick_start_comes_first_and_fits_one_screen():
    lines = README.splitlines()
    first_picture = next(i for i, line in enumerate(lines) if line.startswith("!["))
    assert first_picture < ONE_SCREEN, f"first picture on line {first_picture + 1}"
    assert [l for l in lines[:first_picture] if l.startswith("## ")] == ["## Quick start"]
    quick = "\n".join(lines[:first_picture])
    minimum = _toml("requires-comfyui").lstrip(">=")
    assert f"ComfyUI {minimum} or newer" in quick
    assert f"git clone {_toml('Repository')} " in quick
    assert "<this repository>" not in README
    assert f"comfy node install {_toml('name')}" in quick
    assert "talking portrait (all in one)" in quick and "Run" in quick
    assert "minutes" in quick  # the time to expect
    assert "JOYVASA_DOWNLOAD" not in quick  # the off switch is one link away, not in the way
    assert "docs/models.md#fetched-on-first-use" in quick


def test_contents_follow_and_every_link_leads_somewhere():
    headings = [line for line in README.splitlines() if line.startswith("## ")]
    assert headings[:2] == ["## Quick start", "## Contents"]
    own = _anchors(README)
    for target in re.findall(r"\]\(([^)\s]+)\)", README):
        if target.startswith(("http://", "https://")):
            continue
        path, _, fragment = target.partition("#")
        if not path:
            assert fragment in own, f"README links to #{fragment}, which no heading makes"
            continue
        assert (REPO_ROOT / path).exists(), f"README links to {path}, which does not exist"
        if fragment:
            assert fragment in _anchors((REPO_ROOT / path).read_text(encoding="utf-8")), target


def test_the_moved_reference_pages_link_back_and_resolve():
    for page in ("models", "performance", "faithfulness", "development", "training"):
        path = REPO_ROOT / "docs" / f"{page}.md"
        text = path.read_text(encoding="utf-8")
        assert f"(docs/{page}.md" in README, page
        assert "[Back to the README](../README.md)" in text, page
        for target in re.findall(r"\]\(([^)\s#]+)", text):
            if not target.startswith(("http://", "https://")) and target not in {"gpu.md"}:
                assert (path.parent / target).exists(), (page, target)


def test_the_ci_test_command_and_the_bench_flags_stay_true():
    assert "python -m pytest -q tests" in README
    assert "python -m pytest -q tests" in (REPO_ROOT / ".ci" / "run").read_text()
    performance = (REPO_ROOT / "docs" / "performance.md").read_text(encoding="utf-8")
    assert "--memory-only" not in README + performance  # an internal flag of the benchmark
    assert "python -m joyvasa.bench.gpu" in performance


def test_the_headings_other_files_point_at_exist():
    requirements = (REPO_ROOT / "requirements.txt").read_text()
    named = re.findall(r'see README, "([^"]+)"', requirements)
    assert named and all(_anchor(name) in _anchors(README) for name in named), named
    # The preset table that options.py and the node help pages refer to.
    assert "### Presets: upstream's app, upstream's command line, and ours" in README


def test_the_node_table_names_the_real_inputs():
    table = {line.split("|")[1].strip(): line.split("|")[2] for line in README.splitlines()
             if line.startswith("| JoyVASA ")}
    assert "paste_onto" in table["JoyVASA Render"]
    assert "size" in table["JoyVASA Preview Motion"]
    assert "fps (the motion's frame rate" in table["JoyVASA Extract Motion From Video"]
    templates = sorted(p.stem.removeprefix("JoyVASA - ") for p in (REPO_ROOT / "example_workflows").glob("*.json"))
    nodes_section = README[README.index("## Nodes\n"):README.index("\n## ", README.index("## Nodes\n") + 1)]
    for name in templates:
        assert f"*{name}*" in nodes_section.replace("\n", " "), name
