"""The Checkpoint Diff tab in a real TensorBoard page, driven in Debian's Chromium, and what a
person sees of it: which rows are on screen, where a control ends, what the console said."""

import os
import sys
import urllib.parse

from makers import servers

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ARTIFACTS = os.path.join(ROOT, "test-artifacts")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update"]
FRAME = "iframe[src*='plugin_entry.html']"
# TensorBoard itself asks for /font-roboto/ without the --path_prefix: its 404, not the tab's.
THEIRS = ("/font-roboto/",)


def launch(playwright):
    return playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)


def start_tensorboard(logdir: str, *flags: str, prefix: str = "", reload_interval: int = 2, env=None):
    """(process, base URL) of a real `tensorboard` on a free loopback port."""
    def command(port):
        return [os.path.join(os.path.dirname(sys.executable), "tensorboard"), "--logdir", logdir,
                "--host", "127.0.0.1", "--port", str(port), "--reload_interval", str(reload_interval), *flags,
                *(["--path_prefix", prefix] if prefix else [])]

    process, port = servers.start_listening(command, env=env)
    return process, f"http://127.0.0.1:{port}{prefix}/"


def settled_runs(base: str) -> list:
    """/runs once the server has listed and read every checkpoint (scanning false)."""
    out = {}

    def settled():
        status, body = servers.get_json(base + "data/plugin/ckptdiff/runs")
        out["runs"] = body["runs"]
        return status == 200 and not body["scanning"]

    servers.wait_until(settled, "the server to read the logdir")
    return out["runs"]


def hash_for(params=None) -> str:
    return "ckptdiff" + "".join(
        f"&{urllib.parse.quote('p.ckptdiff.' + k, safe='')}={urllib.parse.quote(v, safe='')}"
        for k, v in (params or {}).items())


class Tab:
    """One page of TensorBoard with the Checkpoint Diff tab open, and what it logged."""

    def __init__(self, browser, base, width=1400, height=1000):
        self.base = base
        self.context = browser.new_context(viewport={"width": width, "height": height},
                                           permissions=["clipboard-read", "clipboard-write"])
        self.page = self.context.new_page()
        self.errors = []
        self.dialogs = []
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("dialog", lambda d: (self.dialogs.append(d.message), d.dismiss()))

    def _console(self, message):
        url = message.location.get("url", "")
        if message.type == "error" and not any(t in url for t in THEIRS):
            self.errors.append(f"{message.text} ({url})")

    def open(self, params=None):
        """The tab at a link naming a pair: wait for its diff."""
        self.open_link(params)
        return self.wait_ready()

    def open_link(self, params=None):
        """Load TensorBoard at a link to the tab (with ``params``), without waiting for it."""
        self.page.goto("about:blank")  # a new hash alone would not reload the page
        self.page.goto(self.base + "#" + hash_for(params))

    def wait_ready(self):
        """The diff drawn: its verdict, or the error that says why there is none."""
        self.ui.locator("#panel-diff[aria-busy=false]").wait_for(timeout=90000)
        return self.ui

    def wait_overview(self, done=True):
        """The overview drawn; with ``done``, every verdict in it computed."""
        self.ui.locator("#panel-overview[aria-busy=false] .ov-summary").wait_for(timeout=90000)
        if done:
            self.ui.locator("#panel-overview .ov-progress progress").wait_for(state="detached", timeout=90000)
        return self.ui

    @property
    def ui(self):
        return self.page.frame_locator(FRAME)

    @property
    def frame(self):
        return next(f for f in self.page.frames if "plugin_entry.html" in f.url)

    def shot(self, name):
        os.makedirs(ARTIFACTS, exist_ok=True)
        self.page.screenshot(path=os.path.join(ARTIFACTS, name + ".png"))

    def shown(self):
        """'N of M rows' as (N, M)."""
        text = self.ui.locator(".shown-count").inner_text()
        n, _, m, _ = text.replace(",", "").split(" ")
        return int(n), int(m)

    def rows_on_screen(self, selector="#panel-diff .vt-row"):
        """The rows a person sees: displayed, with a box that overlaps the grid's box. Each as
        {cls, text}, top to bottom."""
        return self.frame.evaluate("""(selector) => {
            const grid = document.querySelector('#panel-diff .vt-viewport');
            const g = grid.getBoundingClientRect();
            return [...document.querySelectorAll(selector)]
              .filter((r) => getComputedStyle(r).display !== 'none' && getComputedStyle(r).visibility !== 'hidden')
              .map((r) => ({r, b: r.getBoundingClientRect()}))
              .filter(({b}) => b.height > 0 && b.bottom > g.top + 1 && b.top < g.bottom - 1)
              .sort((x, y) => x.b.top - y.b.top)
              .map(({r}) => ({cls: r.className, text: r.innerText}));
        }""", selector)

    def close(self):
        self.context.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
