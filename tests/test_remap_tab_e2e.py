"""End to end: the ``ckptdiff remap`` command in the tab's fix panel, in a real TensorBoard driven
in Debian's Chromium, on demo_logs/: visible where a remap fixes the pair (with the absolute
paths the server gave it, and a Copy button that copies it whole), absent where none does."""

import os
import shutil

import pytest

from makers import servers
from makers.browser import ARTIFACTS, ROOT, Tab, settled_runs, start_tensorboard

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    logdir = str(tmp_path_factory.mktemp("remap_tab") / "logs")
    shutil.copytree(os.path.join(ROOT, "demo_logs"), logdir)
    process, base = start_tensorboard(logdir)
    try:
        settled_runs(base)
        yield base, logdir
    finally:
        servers.stop(process)


def _open(browser, base, case, width, dark=False):
    """The tab on ``case``'s model against its newest checkpoint, its fix drawer open."""
    runs = {r["run"]: r for r in settled_runs(base)}
    refs = {"base": "architecture:" + runs[f"{case}/train"]["architectures"][-1]["id"],
            "target": "checkpoint:" + runs[f"{case}/ckpt"]["checkpoints"][-1]["id"]}
    tab = Tab(browser, base, width=width, height=900)
    if dark:
        tab.page.emulate_media(color_scheme="dark")
    ui = tab.open(refs)
    ui.locator(".fix-button").click()
    ui.locator("#fix-drawer").wait_for(state="visible")
    return tab, ui


@pytest.mark.parametrize("width", [1280, 1600])
@pytest.mark.parametrize("dark", [False, True], ids=["light", "dark"])
def test_the_fix_panel_shows_the_remap_command_for_the_pair(browser, server, width, dark):
    base, logdir = server
    tab, ui = _open(browser, base, "renamed_layer_tf1", width, dark)
    page = tab.page
    try:
        snippet = ui.locator(".snippet", has=ui.locator("code.language-shell"))
        snippet.scroll_into_view_if_needed()
        code = snippet.locator("code")
        assert code.is_visible() and snippet.locator("h4").is_visible()
        assert "ckptdiff remap" in snippet.locator("h4").inner_text()
        text = code.inner_text()
        target = os.path.join(logdir, "renamed_layer_tf1", "ckpt", "model.ckpt-0")
        assert text.startswith(f"ckptdiff remap {target} \\\n")
        assert f"--to {os.path.join(logdir, 'renamed_layer_tf1', 'train')} --architecture graph/0" in text
        box, view = code.bounding_box(), page.viewport_size
        assert 0 <= box["x"] and box["x"] + box["width"] <= view["width"] and box["y"] + box["height"] <= view["height"]
        button = snippet.locator("button")
        button.click()
        servers.wait_until(lambda: button.get_attribute("data-copied") is not None, "the copy to finish", 10)
        assert button.inner_text() == "Copied ✓"
        assert page.evaluate("navigator.clipboard.readText()") == text
        os.makedirs(ARTIFACTS, exist_ok=True)
        page.screenshot(path=os.path.join(ARTIFACTS, f"remap_command_{width}_{'dark' if dark else 'light'}.png"))
    finally:
        tab.close()


def test_no_remap_command_where_no_remap_fixes_the_pair(browser, server):
    base, _ = server
    tab, ui = _open(browser, base, "added_layer", 1280)
    try:
        drawer = ui.locator("#fix-drawer")
        assert "ckptdiff remap" not in drawer.inner_text()
        assert drawer.locator(".snippet h4").first.is_visible()  # the other fixes are still shown
    finally:
        tab.close()
