"""End to end: the ``ckptdiff remap`` command in the tab's fix panel, in a real TensorBoard driven
in Debian's Chromium, on demo_logs/: visible where a remap fixes the pair (with the absolute
paths the server gave it, and a Copy button that copies it whole), absent where none does."""

import os
import shutil
import subprocess
import sys
import urllib.parse

import pytest

from makers import servers
from test_dashboard_e2e import ARTIFACTS, ROOT, browser  # noqa: F401  (the same Chromium, launched the same way)

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    logdir = str(tmp_path_factory.mktemp("remap_tab") / "logs")
    shutil.copytree(os.path.join(ROOT, "demo_logs"), logdir)
    port = servers.free_port()
    process = subprocess.Popen([os.path.join(os.path.dirname(sys.executable), "tensorboard"), "--logdir", logdir,
                                "--host", "127.0.0.1", "--port", str(port)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}/"
    try:
        servers.wait_until(lambda: servers.get_json(base + "data/plugin/ckptdiff/runs")[0] == 200
                           and not servers.get_json(base + "data/plugin/ckptdiff/runs")[1]["scanning"], "the listing")
        yield base, logdir
    finally:
        servers.stop(process)


def _open(browser, base, case, width, dark=False):
    runs = {r["run"]: r for r in servers.get_json(base + "data/plugin/ckptdiff/runs")[1]["runs"]}
    refs = {"base": "architecture:" + runs[f"{case}/train"]["architectures"][-1]["id"],
            "target": "checkpoint:" + runs[f"{case}/ckpt"]["checkpoints"][-1]["id"]}
    context = browser.new_context(viewport={"width": width, "height": 900}, color_scheme="dark" if dark else "light",
                                  permissions=["clipboard-read", "clipboard-write"])
    page = context.new_page()
    page.goto(base + "#ckptdiff" + "".join(
        f"&{urllib.parse.quote('p.ckptdiff.' + k, safe='')}={urllib.parse.quote(v, safe='')}" for k, v in refs.items()))
    ui = page.frame_locator("iframe[src*='plugin_entry.html']")
    ui.locator("body[data-diff-ready=yes]").wait_for(timeout=90000)
    return context, page, ui


@pytest.mark.parametrize("width", [1280, 1600])
@pytest.mark.parametrize("dark", [False, True], ids=["light", "dark"])
def test_the_fix_panel_shows_the_remap_command_for_the_pair(browser, server, width, dark):
    base, logdir = server
    context, page, ui = _open(browser, base, "renamed_layer_tf1", width, dark)
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
        context.close()


def test_no_remap_command_where_no_remap_fixes_the_pair(browser, server):
    base, _ = server
    context, _, ui = _open(browser, base, "added_layer", 1280)
    try:
        assert ui.locator(".fix").count() and ui.locator("code.language-shell").count() == 0
        assert ui.locator(".snippet h4").first.is_visible()  # the other fixes are still shown
    finally:
        context.close()
