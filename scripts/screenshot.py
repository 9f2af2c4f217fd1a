"""Write docs/screenshot.png: the tab's overview on demo_logs/, as the README shows it.

Usage: .venv/bin/python scripts/screenshot.py [OUTPUT.png]

A real `tensorboard` on demo_logs/, Debian's Chromium at 1280 x 720, the overview once every
verdict is in.
"""

import os
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "tests"))

from makers import browser as chromium  # noqa: E402
from makers import servers  # noqa: E402


def main(argv):
    from playwright.sync_api import sync_playwright

    out = argv[1] if len(argv) > 1 else os.path.join(REPO, "docs", "screenshot.png")
    process, base = chromium.start_tensorboard(os.path.join(REPO, "demo_logs"))
    try:
        chromium.settled_runs(base)
        with sync_playwright() as p:
            browser = chromium.launch(p)
            with chromium.Tab(browser, base, width=1280, height=720) as tab:
                tab.open_link()
                tab.wait_overview()
                tab.page.mouse.move(0, 0)  # no hover highlight on a row
                tab.page.screenshot(path=out)
            browser.close()
    finally:
        servers.stop(process)
    print(out)


if __name__ == "__main__":
    main(sys.argv)
