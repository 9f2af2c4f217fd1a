"""Session-wide test settings: quiet TensorFlow, CPU only, and no skip counted as a pass."""

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

sys.path.insert(0, os.path.dirname(__file__))  # tests/makers: the real-checkpoint writers

import pytest  # noqa: E402


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    skipped = terminalreporter.stats.get("skipped", [])
    if skipped:
        terminalreporter.write_line(
            f"{len(skipped)} test(s) skipped: a skipped test is not a pass; failing the run.", red=True)


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session, exitstatus):
    # A skip hides a missing dependency or a broken fixture; treat it as a failure.
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None and reporter.stats.get("skipped") and session.exitstatus == 0:
        session.exitstatus = 1


@pytest.fixture(scope="module")
def client(logdir):
    """The real TensorBoard WSGI app (this plugin and a real data provider) over the test
    module's own ``logdir`` fixture, a dict whose "root" is the directory."""
    from werkzeug.test import Client

    from makers import logdirs

    return Client(logdirs.tensorboard_app("--logdir", logdir["root"]))


@pytest.fixture(scope="session")
def browser():
    """Debian's Chromium, headless, for the end-to-end tests (Playwright never downloads one)."""
    from playwright.sync_api import sync_playwright

    from makers import browser as chromium

    with sync_playwright() as p:
        b = chromium.launch(p)
        yield b
        b.close()
