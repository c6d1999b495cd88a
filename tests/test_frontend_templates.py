"""The templates in the real frontend: ComfyUI 0.3.75 with its pinned comfyui-frontend-package, in
headless Chromium (Debian's ``chromium``, driven by playwright; ``playwright install`` is never used).

Each template is opened the way a user does: the template browser (Comfy.BrowseTemplates), a search
for its title, a click on its card. Then the page's own graph (``app.graph.serialize()``) must hold
every node of the saved file with its title and widget values exactly as saved (a template whose
values shift on open fails here), its notes, and its groups; the first note's words must be on the
page. Screenshots go to ``$JOYVASA_FRONTEND_SCREENSHOTS`` when set (else the test's temp folder).

In CI (``CI=true``) a missing Chromium or playwright fails; elsewhere the test skips with the reason.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import pytest

from tests.comfy_server import (PACK_DIR_NAME, REPO_ROOT, ComfyServer, ComfyUIUnavailable, comfyui_root,
                                module_from_file)

WORKFLOWS = REPO_ROOT / "example_workflows"
TEMPLATES = module_from_file("docs/template_notes.py").TEMPLATES
NOTE_TYPES = ("MarkdownNote", "Note")


def _missing(reason: str):
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason} (CI must install it: see .ci/run)")
    pytest.skip(f"NOT TESTED: the templates in the real frontend: {reason}")


def _chromium() -> str:
    path = os.environ.get("JOYVASA_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if not path:
        _missing("no chromium on PATH (apt-get install -y chromium)")
    return path


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    executable = _chromium()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("playwright is not installed (pip install -r requirements-dev.txt)")
    workdir = tmp_path_factory.mktemp("frontend")
    try:
        server = ComfyServer(workdir).start()
    except ComfyUIUnavailable as err:
        pytest.fail(f"ComfyUI 0.3.75 test environment unavailable: {err}")
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=executable, args=["--no-sandbox"])
            tab = browser.new_page(viewport={"width": 1600, "height": 1000})
            tab.errors = []
            tab.on("pageerror", lambda error: tab.errors.append(str(error)))
            tab.goto(server.url)
            tab.wait_for_function("window.app && window.app.graph && window.app.extensionManager", timeout=120_000)
            tab.server = server
            yield tab
            browser.close()
    finally:
        server.stop()


def _screenshot_dir(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("JOYVASA_FRONTEND_SCREENSHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _open_from_template_browser(page, name: str, saved: dict) -> dict:
    page.evaluate("window.app.extensionManager.command.execute('Comfy.BrowseTemplates')")
    search = page.get_by_placeholder("Search").first
    search.wait_for(timeout=30_000)
    search.fill(name.split(" - ", 1)[1])
    card = page.get_by_text(name, exact=True).first
    card.wait_for(timeout=30_000)
    card.click()
    wanted = sorted(node["id"] for node in saved["nodes"])
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        graph = json.loads(page.evaluate("JSON.stringify(window.app.graph.serialize())"))
        if sorted(node["id"] for node in graph["nodes"]) == wanted and (
                {node["type"] for node in graph["nodes"]} == {node["type"] for node in saved["nodes"]}):
            return graph
        time.sleep(0.25)
    raise AssertionError(f"{name}: the template browser did not load it; the page holds {graph['nodes']}")


def test_pack_templates_are_listed_for_the_template_browser(page):
    listed = page.server.get_json("/api/workflow_templates")
    assert sorted(listed.get(PACK_DIR_NAME, [])) == sorted(TEMPLATES)
    # The page is the frontend ComfyUI 0.3.75 pins (comfyui-frontend-package in its requirements.txt).
    pinned = next(line.split("==")[1].strip() for line in (comfyui_root() / "requirements.txt").read_text().splitlines()
                  if line.startswith("comfyui-frontend-package=="))
    assert page.evaluate("window.__COMFYUI_FRONTEND_VERSION__") == pinned


@pytest.mark.parametrize("name", TEMPLATES)
def test_template_opens_with_its_values_notes_and_groups(page, name, tmp_path):
    saved = json.loads((WORKFLOWS / f"{name}.json").read_text())
    graph = _open_from_template_browser(page, name, saved)
    page.wait_for_timeout(1500)  # let the canvas draw before the screenshot
    page.screenshot(path=str(_screenshot_dir(tmp_path) / f"{name}.png"))

    shown = {node["id"]: node for node in graph["nodes"]}
    titles = dict(page.evaluate("window.app.graph._nodes.map(node => [node.id, node.title])"))
    for node in saved["nodes"]:
        opened = shown[node["id"]]
        assert opened["type"] == node["type"], name
        assert titles[node["id"]] == node["title"], (name, node["id"], titles[node["id"]])
        assert opened.get("widgets_values") == node["widgets_values"], (
            f"{name}: node {node['id']} ({node['type']}) changed on open: saved {node['widgets_values']}, "
            f"the frontend holds {opened.get('widgets_values')}")
    notes = [node for node in graph["nodes"] if node["type"] in NOTE_TYPES]
    assert len(notes) == len([node for node in saved["nodes"] if node["type"] in NOTE_TYPES]) >= 3, name
    assert [group["title"] for group in graph["groups"]] == [group["title"] for group in saved["groups"]], name
    assert {"Inputs", "Models", "Render"} <= {group["title"] for group in graph["groups"]} or name.endswith(
        "(all in one)"), name
    for group in graph["groups"]:  # each group holds its nodes where they were saved
        twin = next(g for g in saved["groups"] if g["title"] == group["title"])
        assert [round(v) for v in group["bounding"]] == [round(v) for v in twin["bounding"]], (name, group)
    # The "Start here" note is readable as the template opens (the saved view; MarkdownNote renders
    # its text in the DOM).
    start = next(node for node in saved["nodes"] if node.get("title") == "Start here")
    heading = start["widgets_values"][0].splitlines()[0].lstrip("# ").strip()
    page.get_by_text(heading, exact=True).first.wait_for(state="visible", timeout=15_000)
    assert not page.errors, page.errors


def test_missing_chromium_fails_in_ci_and_skips_loudly_elsewhere(monkeypatch):
    monkeypatch.delenv("JOYVASA_CHROMIUM", raising=False)
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="chromium"):
        _chromium()
    monkeypatch.setenv("CI", "")
    with pytest.raises(pytest.skip.Exception, match="NOT TESTED"):
        _chromium()
