"""End to end: the Checkpoint Diff tab in a real TensorBoard, driven in Debian's Chromium.

Expectations come from the backend's own /diff answers, never from numbers written here: the
tab must show what the API says, for every seed case of demo_logs/.
"""

import os
import shutil
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest

from makers import browser as chromium
from makers import servers
from makers.browser import Tab
from makers.keras_files import safetensors_file

pytestmark = pytest.mark.e2e

ROOT = chromium.ROOT
HOSTILE = "<img src=x onerror=alert(1)>"
STATUSES = ("shape_mismatch", "dtype_mismatch", "missing", "renamed", "unexpected", "match")


# ---------------------------------------------------------------- the logdir and the server

@pytest.fixture(scope="module")
def logdir(tmp_path_factory):
    """A copy of demo_logs/ plus a safetensors pair whose variable name is markup."""
    import numpy as np
    from safetensors.numpy import save_file

    root = str(tmp_path_factory.mktemp("dashboard") / "logs")
    shutil.copytree(os.path.join(ROOT, "demo_logs"), root)
    hostile = os.path.join(root, "hostile_names")
    os.makedirs(hostile)
    save_file({"dense/kernel": np.zeros((2, 2), np.float32)}, os.path.join(hostile, "clean.safetensors"))
    save_file({"dense/kernel": np.zeros((2, 2), np.float32), HOSTILE: np.zeros((3,), np.float32)},
              os.path.join(hostile, "evil.safetensors"))
    return root


_get = servers.get_json


def _wait(predicate, what, seconds=120):
    servers.wait_until(predicate, what, seconds)


@pytest.fixture(scope="module", params=["", "/tb"], ids=["root", "path_prefix"])
def server(request, logdir):
    """A real `tensorboard` on a free loopback port; yields its base URL (with the prefix)."""
    process, base = chromium.start_tensorboard(logdir, prefix=request.param)
    try:
        # every checkpoint listed and read, the hostile pair included, before any page opens
        _wait(lambda: _hostile_ids(base), "the logdir to be listed")
        chromium.settled_runs(base)
        yield base
    finally:
        servers.stop(process)


def _runs(base):
    return chromium.settled_runs(base)


def _hostile_ids(base):
    found = {os.path.basename(c["path"]): c["id"] for run in _runs(base) for c in run["checkpoints"]
             if c["path"].startswith("hostile_names/") and c["status"] == "ok"}
    return found if len(found) == 2 else None


def _diff(base, base_ref, target_ref, kinds="weight"):
    query = urllib.parse.urlencode({"base": base_ref, "target": target_ref, "kinds": kinds})
    status, body = _get(base + "data/plugin/ckptdiff/diff?" + query)
    assert status == 200, body
    return body


def _shared(a, b):
    x, y = a.split("/"), b.split("/")
    n = 0
    while n < min(len(x), len(y)) and x[n] == y[n]:
        n += 1
    return n


def seed_cases(base):
    """Per top-level directory of demo_logs: its newest architecture against its newest readable
    checkpoint nearest to that architecture's run (what the tab opens with for that case)."""
    runs = _runs(base)
    cases = []
    for case in sorted({r["run"].split("/")[0] for r in runs} - {"hostile_names"}):
        inside = [r for r in runs if r["run"] == case or r["run"].startswith(case + "/")]
        archs = [a for r in inside for a in r["architectures"] if a["status"] == "ok"]
        ckpts = [c for r in inside for c in r["checkpoints"] if c["status"] == "ok"]
        if not archs or not ckpts:
            continue
        arch = archs[-1]
        best = max(_shared(arch["run"], c["run"]) for c in ckpts)
        near = [c for c in ckpts if _shared(arch["run"], c["run"]) == best]
        cases.append((case, "architecture:" + arch["id"], "checkpoint:" + near[-1]["id"]))
    assert cases, "demo_logs has no case with an architecture and a checkpoint"
    return cases


# ---------------------------------------------------------------- the browser

@pytest.fixture
def tab(browser, server):
    t = Tab(browser, server)
    yield t
    t.close()


def _ids(request):
    return request.node.callspec.id.replace("[", "_").replace("]", "")


# ---------------------------------------------------------------- the tests

def test_the_tab_appears_and_opens_on_the_overview(tab, request):
    tab.page.goto(tab.base)
    tab.page.get_by_text("Checkpoint Diff", exact=False).first.click()
    ui = tab.wait_overview()
    assert "#ckptdiff" in tab.page.url
    assert ui.locator("h2").inner_text() == "Checkpoint Diff"
    assert ui.locator("#tab-overview").get_attribute("aria-selected") == "true"
    assert ui.locator(".ov-row").first.is_visible()
    tab.shot("open-" + _ids(request))


def test_each_seed_case_shows_the_backends_verdict_and_counts(tab, server, request):
    for case, base_ref, target_ref in seed_cases(server):
        expected = _diff(server, base_ref, target_ref)
        ui = tab.open({"base": base_ref, "target": target_ref})
        banner = ui.locator(".verdict")
        assert banner.locator(".verdict-text").inner_text() == expected["verdict"], case
        title = banner.locator(".verdict-title").inner_text()
        assert title.startswith("Restorable" if expected["restorable"] else "Not restorable"), case
        assert ("not resumable" not in title) == expected["resumable"], case
        for status in STATUSES:
            count = ui.locator(f".chip[data-status={status}] .chip-count").inner_text()
            assert int(count) == expected["summary"].get(status, 0), (case, status)
        assert tab.shown() == (len(expected["entries"]), len(expected["entries"])), case
        tab.shot(f"case-{case}-{_ids(request)}")


def test_mismatched_rows_carry_their_status(tab, server):
    checked = 0
    for case, base_ref, target_ref in seed_cases(server):
        expected = _diff(server, base_ref, target_ref)
        for status in sorted({e["status"] for e in expected["entries"]} - {"match"}):
            ui = tab.open({"base": base_ref, "target": target_ref, "status": status})
            ui.locator("#group-toggle").uncheck()  # flat: the first row is the first such entry
            first = next(e for e in expected["entries"] if e["status"] == status)
            row = ui.locator(".vt-row.item").first
            assert f"row-{status}" in row.get_attribute("class"), (case, status)
            side = first["base"] or first["target"]
            assert side["name"] in row.inner_text() or side["key"] in row.inner_text(), (case, status)
            checked += 1
    assert checked, "no seed case has a mismatched row"


def _case_with_two_statuses(server):
    for _, base_ref, target_ref in seed_cases(server):
        expected = _diff(server, base_ref, target_ref)
        if sum(1 for s in STATUSES if expected["summary"].get(s)) >= 2:
            return base_ref, target_ref, expected
    raise AssertionError("no seed case has two statuses")


def test_a_status_chip_filters_the_table(tab, server):
    base_ref, target_ref, expected = _case_with_two_statuses(server)
    ui = tab.open({"base": base_ref, "target": target_ref})
    status = next(s for s in STATUSES if expected["summary"].get(s))
    ui.locator(f".chip[data-status={status}]").click()
    assert ui.locator(f".chip[data-status={status}]").get_attribute("aria-pressed") == "true"
    assert tab.shown() == (expected["summary"][status], len(expected["entries"]))
    on_screen = [r["cls"] for r in tab.rows_on_screen("#panel-diff .vt-row.item")]
    assert len(on_screen) == expected["summary"][status]
    assert all(f"row-{status}" in c for c in on_screen)


def test_the_search_filters_the_table(tab, server):
    base_ref, target_ref, expected = _case_with_two_statuses(server)
    ui = tab.open({"base": base_ref, "target": target_ref})
    name = (expected["entries"][0]["base"] or expected["entries"][0]["target"])["name"]
    needle = name.split("/")[-1]
    want = sum(1 for e in expected["entries"]
               if any(needle.lower() in v[f].lower() for v in (e["base"], e["target"]) if v for f in ("name", "key")))
    ui.locator("#panel-diff input.search").fill(needle)
    _wait(lambda: tab.shown()[0] == want, f"the search for {needle!r} to show {want} rows", 20)
    ui.locator("#group-toggle").uncheck()
    assert len(tab.rows_on_screen("#panel-diff .vt-row.item")) == want
    ui.locator("#panel-diff input.search").fill("/^no such variable$/")
    _wait(lambda: tab.shown()[0] == 0, "a regex search that matches nothing", 20)
    assert tab.rows_on_screen() == []


def test_reloading_the_url_restores_the_selection(tab, server):
    cases = seed_cases(server)
    _, base_ref, target_ref = cases[-1]
    tab.open({"base": base_ref, "target": target_ref, "q": "kernel", "mode": "auto"})
    tab.page.reload()
    ui = tab.wait_ready()
    assert ui.locator("#pick-base").input_value() == base_ref
    assert ui.locator("#pick-target").input_value() == target_ref
    assert ui.locator("#panel-diff input.search").input_value() == "kernel"


def test_copy_link_reopens_the_comparison(tab, server):
    _, base_ref, target_ref = seed_cases(server)[0]
    ui = tab.open({"base": base_ref, "target": target_ref})
    ui.locator("#pick-mode").select_option("name")
    tab.wait_ready()
    ui.locator("button.copy", has_text="Copy link").click()
    _wait(lambda: ui.locator("button.copy[data-copied=yes]").count() == 1, "the link to be copied", 10)
    link = tab.page.evaluate("navigator.clipboard.readText()")
    assert link.startswith(server)
    tab.page.goto("about:blank")
    tab.page.goto(link)
    ui = tab.wait_ready()
    assert ui.locator("#pick-mode").input_value() == "name"
    assert ui.locator("#pick-base").input_value() == base_ref
    assert ui.locator("#pick-target").input_value() == target_ref


def test_a_variable_named_like_markup_shows_as_text(tab, server, request):
    ids = _hostile_ids(server)
    ui = tab.open({"base": "checkpoint:" + ids["clean.safetensors"], "target": "checkpoint:" + ids["evil.safetensors"],
                   "status": "unexpected"})
    assert HOSTILE in ui.locator(".vt-row.item").first.inner_text()
    ui.locator("#tab-browser").click()
    ui.locator("button.link", has_text="evil.safetensors").click()
    ui.locator(".browser-vars .vt-row.item", has_text=HOSTILE).first.wait_for(timeout=30000)
    assert tab.frame.evaluate("document.querySelectorAll('img').length") == 0
    time.sleep(0.5)
    assert tab.dialogs == []
    tab.shot("hostile-" + _ids(request))


def test_the_tab_logs_no_console_errors(tab, server):
    _, base_ref, target_ref = seed_cases(server)[0]
    ui = tab.open({"base": base_ref, "target": target_ref})
    ui.locator("#tab-browser").click()
    ui.locator("button.link:not([disabled])").first.click()
    ui.locator(".browser-vars .vt-row").first.wait_for(timeout=30000)
    ui.locator("#tab-diff").click()
    assert tab.errors == []


# ---------------------------------------------------------------- the value drift view

DRIFT_CASE = "tf2_training/ckpt"  # one model saved at three steps: values drift, names do not


def _drift_refs(server, base="ckpt-1", target="ckpt-3"):
    """checkpoint:ID of two checkpoints of DRIFT_CASE, by file name."""
    found = {os.path.basename(c["path"]): "checkpoint:" + c["id"]
             for run in _runs(server) if run["run"] == DRIFT_CASE for c in run["checkpoints"] if c["status"] == "ok"}
    return found[base], found[target]


def _drift(server, base_ref, target_ref):
    """The backend's /drift answer, asked again while it says 202 (still computing)."""
    query = urllib.parse.urlencode({"base": base_ref, "target": target_ref})
    answer = {}

    def done():
        answer["status"], answer["body"] = _get(server + "data/plugin/ckptdiff/drift?" + query)
        assert answer["status"] in (200, 202), answer
        return answer["status"] == 200

    _wait(done, "/drift to answer 200")
    assert answer["body"]["entries"], "the drift case compares no variable"
    return answer["body"]


def _tensor_stats(server, base_ref, target_ref, entry, bins=40):
    query = urllib.parse.urlencode({"base": base_ref, "target": target_ref, "base_key": entry["base_key"],
                                    "target_key": entry["target_key"], "bins": bins})
    status, body = _get(server + "data/plugin/ckptdiff/tensor_stats?" + query)
    assert status == 200, body
    return body


def _open_drift(tab, base_ref, target_ref):
    ui = tab.open({"base": base_ref, "target": target_ref})
    ui.locator("#tab-drift").click()
    ui.locator("#panel-drift .drift").wait_for(timeout=90000)
    return ui


def _drift_shown(tab, server):
    """(base_ref, target_ref, the backend's /drift answer, the tab showing that drift)."""
    base_ref, target_ref = _drift_refs(server)
    expected = _drift(server, base_ref, target_ref)
    return base_ref, target_ref, expected, _open_drift(tab, base_ref, target_ref)


def test_drift_draws_one_bar_per_layer_of_the_backend(tab, server):
    _, _, expected, ui = _drift_shown(tab, server)
    bars = ui.locator("svg.drift-bars g.drift-bar")
    assert bars.count() == len(expected["layers"])
    titles = bars.locator("title").all_text_contents()
    assert [t.split(": relative ")[0] for t in titles] == [layer["layer"] for layer in expected["layers"]]
    widths = [float(w) for w in bars.locator("rect").evaluate_all("rs => rs.map(r => r.getAttribute('width'))")]
    relative = [layer["relative"] for layer in expected["layers"]]
    assert all(w > 0 for w in widths)
    # the longest bar is the layer that changed most
    assert widths.index(max(widths)) == relative.index(max(relative))


def test_drift_table_has_one_row_per_backend_entry(tab, server):
    _, _, expected, ui = _drift_shown(tab, server)
    rows = ui.locator(".drift-table tbody tr.drift-row")
    assert rows.count() == len(expected["entries"])
    names = rows.locator("td:first-child .var-name").evaluate_all("ns => ns.map(n => n.title)")
    assert sorted(names) == sorted(e["name"] for e in expected["entries"])
    summary = ui.locator(".drift-summary").inner_text()
    assert summary.startswith(f"{len(expected['entries'])} variables compared, {len(expected['skipped'])} skipped")


def test_drift_opens_from_the_pickers(tab, server):
    base_ref, target_ref = _drift_refs(server)
    expected = _drift(server, base_ref, target_ref)
    tab.open_link()
    ui = tab.wait_overview()
    ui.locator("#tab-diff").click()
    tab.wait_ready()
    ui.locator("#pick-base").select_option(base_ref)
    tab.wait_ready()
    ui.locator("#pick-target").select_option(target_ref)
    tab.wait_ready()
    ui.locator("#tab-drift").click()
    ui.locator("#panel-drift .drift").wait_for(timeout=90000)
    assert ui.locator(".drift-table tbody tr.drift-row").count() == len(expected["entries"])
    assert ui.locator("svg.drift-bars g.drift-bar").count() == len(expected["layers"])


def _bar_titles(ui):
    return ui.locator("svg.drift-bars g.drift-bar title").all_text_contents()


def test_picking_another_target_in_the_drift_view_redraws_it_for_the_new_pair(tab, server):
    base_ref, _ = _drift_refs(server)
    _, other_ref = _drift_refs(server, target="ckpt-2")
    _drift(server, base_ref, other_ref)  # computed before, so both views draw without waiting
    fresh = _bar_titles(_open_drift(tab, base_ref, other_ref))
    ui = _drift_shown(tab, server)[3]
    shown_before = _bar_titles(ui)
    assert shown_before != fresh, "the two pairs drift alike: the test could not tell them apart"
    ui.locator("#pick-target").select_option(other_ref)
    _wait(lambda: _bar_titles(ui) == fresh, "the drift view to show the newly picked pair")


def test_clicking_a_drift_variable_draws_its_histogram(tab, server, request):
    base_ref, target_ref, expected, ui = _drift_shown(tab, server)
    row = ui.locator(".drift-table tbody tr.drift-row").last
    name = row.locator("td:first-child .var-name").get_attribute("title")
    entry = next(e for e in expected["entries"] if e["name"] == name)
    stats = _tensor_stats(tab.base, base_ref, target_ref, entry)
    row.click()
    hist = ui.locator(".drift-histogram svg.drift-hist")
    hist.wait_for(timeout=30000)
    assert row.get_attribute("aria-selected") == "true"
    assert ui.locator(".drift-histogram h3").inner_text() == name
    bins = len(stats["edges"]) - 1
    sides = [k for k in ("base", "target") if stats.get(k)]
    assert hist.locator("rect").count() == bins * len(sides)
    titles = hist.locator("rect title").all_text_contents()
    for side in sides:
        drawn = [int(t.split(": ")[1].split(" ")[0]) for t in titles if t.startswith(side + ":")]
        assert drawn == stats[side]["counts"], side
    tab.shot("drift-" + _ids(request))


def test_the_drift_view_logs_no_console_errors(tab, server):
    ui = _drift_shown(tab, server)[3]
    ui.locator(".drift-table tbody tr.drift-row").first.click()
    ui.locator(".drift-histogram svg.drift-hist").wait_for(timeout=30000)
    ui.locator(".drift-layers button.chip").click()  # "Largest first" redraws the bars
    ui.locator(".drift-table th button.sort").first.click()
    assert tab.errors == []


def test_drift_shows_the_result_after_the_202_progress_answers(tab, server):
    # a pair no other test asks for: the tab's own request starts the job, which answers 202 first
    base_ref, target_ref = _drift_refs(server, "ckpt-2", "ckpt-3")
    statuses = []
    tab.page.on("response", lambda r: statuses.append(r.status) if "/data/plugin/ckptdiff/drift?" in r.url else None)
    ui = _open_drift(tab, base_ref, target_ref)
    assert statuses[0] == 202 and statuses[-1] == 200, statuses
    expected = _drift(server, base_ref, target_ref)
    assert ui.locator(".drift-table tbody tr.drift-row").count() == len(expected["entries"])
    assert ui.locator("svg.drift-bars g.drift-bar").count() == len(expected["layers"])


# ---------------------------------------------------------------- dark mode, keyboard, reload

THEME_MENU = "button[aria-label='Menu for changing light or dark theme']"


def _theme(tab):
    """(the class of the tab's <html>, its body's computed background colour)."""
    return tab.frame.evaluate(
        "[document.documentElement.className, getComputedStyle(document.body).backgroundColor]")


def _pick_theme(tab, title):
    # TensorBoard's own header menu, as a user switches it
    tab.page.locator(THEME_MENU).click()
    tab.page.locator(f"button[title='{title}']").click()


def test_the_tab_follows_tensorboards_dark_mode(tab, server):
    _, base_ref, target_ref = seed_cases(server)[0]
    tab.open({"base": base_ref, "target": target_ref})
    classes, light = _theme(tab)
    assert "dark" not in classes.split()
    _pick_theme(tab, "Force dark TensorBoard theme.")
    assert "dark-mode" in tab.page.evaluate("document.body.className").split()
    # the observer runs after the host's class change, so wait for it rather than read at once
    _wait(lambda: "dark" in _theme(tab)[0].split(), "the tab's <html> to turn dark", 10)
    assert _theme(tab)[1] != light, "the class changed but the background did not"
    _pick_theme(tab, "Force light TensorBoard theme.")
    _wait(lambda: "dark" not in _theme(tab)[0].split(), "the tab's <html> to turn light again", 10)
    assert _theme(tab)[1] == light


def _focused(tab):
    """The tab's focused element as {id, role, selected}."""
    return tab.frame.evaluate("""() => {
        const e = document.activeElement;
        return {id: e.id, role: e.getAttribute('role'), selected: e.getAttribute('aria-selected')};
    }""")


def _press_tab_until(tab, wanted, what, presses=80):
    """Press Tab (keyboard only) until the focused element satisfies ``wanted``."""
    for _ in range(presses):
        tab.page.keyboard.press("Tab")
        if wanted(_focused(tab)):
            return
    raise AssertionError(f"Tab never reached {what}")


def _enter_the_tab(tab):
    # a click on the heading, which takes no focus itself, puts the keyboard inside the frame
    tab.ui.locator("h2").click()


def _shown_panel(tab):
    return tab.frame.evaluate(
        "[...document.querySelectorAll('[role=tabpanel]')].filter(p => getComputedStyle(p).display !== 'none').map(p => p.id)")


def test_arrow_keys_switch_the_views(tab, server):
    base_ref, target_ref = _drift_refs(server)  # two checkpoints: all three views are offered
    tab.open({"base": base_ref, "target": target_ref})
    _enter_the_tab(tab)
    _press_tab_until(tab, lambda f: f["role"] == "tab", "the view tabs")
    assert _focused(tab)["id"] == "tab-diff" and _focused(tab)["selected"] == "true"
    for key, view in (("ArrowRight", "drift"), ("ArrowRight", "browser"), ("ArrowRight", "matrix"),
                      ("ArrowRight", "overview"), ("ArrowRight", "diff"), ("ArrowLeft", "overview")):
        tab.page.keyboard.press(key)
        focused = _focused(tab)
        assert (focused["id"], focused["selected"]) == (f"tab-{view}", "true"), key
        assert _shown_panel(tab) == [f"panel-{view}"], key


def _grid(tab):
    """The diff grid's state: rows, the focused row's index and class, and whether it is in view."""
    return tab.frame.evaluate("""() => {
        const grid = document.querySelector('#panel-diff .vt-viewport');
        const row = document.getElementById(grid.getAttribute('aria-activedescendant'));
        const g = grid.getBoundingClientRect(), r = row ? row.getBoundingClientRect() : null;
        return {rows: Number(grid.getAttribute('aria-rowcount')), scrolled: grid.scrollTop,
                index: row ? Number(row.getAttribute('aria-rowindex')) : null,
                cls: row ? row.className : null, expanded: row ? row.getAttribute('aria-expanded') : null,
                inView: !!r && r.top >= g.top - 1 && r.bottom <= g.bottom + 1};
    }""")


def _largest_seed_case(server):
    """The seed case with the most entries: the one whose rows overflow the grid."""
    return max(seed_cases(server), key=lambda c: len(_diff(server, c[1], c[2])["entries"]))


def test_the_keyboard_reaches_and_walks_the_rows(tab, server):
    _, base_ref, target_ref = _largest_seed_case(server)
    # a short window makes the grid (62vh) shorter than the seed case's rows: End must scroll
    tab.page.set_viewport_size({"width": 1400, "height": 400})
    tab.open({"base": base_ref, "target": target_ref})
    _enter_the_tab(tab)
    _press_tab_until(tab, lambda f: f["role"] == "treegrid", "the diff's rows")
    start = _grid(tab)
    assert start["index"] == 1 and "focused" in start["cls"].split() and start["inView"]
    tab.page.keyboard.press("ArrowDown")
    assert _grid(tab)["index"] == 2
    tab.page.keyboard.press("End")
    end = _grid(tab)
    assert end["index"] == end["rows"] and "focused" in end["cls"].split() and end["inView"]
    assert end["scrolled"] > 0, "the seed case's rows fit the grid: End could not be told from staying put"
    tab.page.keyboard.press("PageUp")
    assert 1 < _grid(tab)["index"] < end["rows"] and _grid(tab)["inView"]
    tab.page.keyboard.press("Home")
    home = _grid(tab)
    assert home["index"] == 1 and home["inView"] and home["scrolled"] == 0
    assert "group" in home["cls"].split(), "the grouped table does not start with a layer"
    tab.page.keyboard.press("Enter")  # closes the layer the focus is on
    closed = _grid(tab)
    assert closed["expanded"] == "false" and closed["rows"] < end["rows"]
    tab.page.keyboard.press("ArrowRight")  # and opens it again
    opened = _grid(tab)
    assert opened["expanded"] == "true" and opened["rows"] == end["rows"]


def _stop_tensorboards_own_reloading(tab):
    # TensorBoard also reloads by itself every 30 s; with that off, only the button can have
    # refreshed the tab
    tab.page.locator("settings-button button").click()
    tab.page.locator(".reload-toggle input[type=checkbox]").uncheck()
    tab.page.keyboard.press("Escape")
    tab.page.locator("settings-dialog-component").wait_for(state="detached")


def _checkpoint_ref(server, run):
    found = [c for r in _runs(server) if r["run"] == run for c in r["checkpoints"] if c["status"] == "ok"]
    return "checkpoint:" + found[0]["id"] if found else None


def test_tensorboards_reload_button_lists_a_new_checkpoint(tab, server, logdir, request):
    run = "added_after_load_" + _ids(request)  # one per server: both read the same logdir
    _, base_ref, target_ref = seed_cases(server)[0]
    ui = tab.open({"base": base_ref, "target": target_ref})
    _stop_tensorboards_own_reloading(tab)
    tab.frame.evaluate("window.loadedOnce = true")  # gone if the frame were loaded again
    try:
        safetensors_file(os.path.join(logdir, run))
        # the server rescans the logdir every --reload_interval: wait for it, not for the tab
        _wait(lambda: _checkpoint_ref(server, run), "the server to list the new checkpoint", 60)
        ref = _checkpoint_ref(server, run)
        option = f"optgroup[label='{run}'] option[value='{ref}']"
        assert ui.locator(f"#pick-target {option}").count() == 0, "listed before any reload"
        tab.page.locator("button.reload-button").click()
        ui.locator(f"#pick-target {option}").wait_for(state="attached", timeout=20000)
        assert ui.locator(f"#pick-base {option}").count() == 1
        assert tab.frame.evaluate("window.loadedOnce") is True
        assert ui.locator("#pick-target").input_value() == target_ref  # the open comparison stays
    finally:
        shutil.rmtree(os.path.join(logdir, run), ignore_errors=True)


# ---------------------------------------------------------------- a logdir that takes a while

# `tensorboard` with the plugin's first walk of the logdir held back, as on a large or remote
# logdir, until the test creates the file named first on the command line; then the real
# walk runs. The first /runs waits 1 s for it, not 10.
_HELD_FIRST_SCAN = """
import os, sys, time
from tensorboard_plugin_ckptdiff.logdir import catalog, walk as discovery
walk, release = discovery.scan, sys.argv.pop(1)
def held_walk(*args, **kwargs):
    deadline = time.monotonic() + 300
    while not os.path.exists(release) and time.monotonic() < deadline:
        time.sleep(0.05)
    return walk(*args, **kwargs)
discovery.scan = held_walk
catalog.FIRST_SCAN_WAIT_SECONDS = 1.0
from tensorboard.main import run_main
sys.argv[0] = "tensorboard"
run_main()
"""


def test_the_tab_says_it_is_still_looking_and_fills_in_when_the_scan_ends(browser, logdir, tmp_path):
    release = tmp_path / "release-the-walk"
    process, port = servers.start_listening(
        lambda port: [sys.executable, "-c", _HELD_FIRST_SCAN, str(release), "--logdir", logdir, "--host", "127.0.0.1",
                      "--port", str(port), "--reload_interval", "0"])
    base = f"http://127.0.0.1:{port}/"
    tab = Tab(browser, base)
    try:
        _wait(lambda: _get(base + "data/plugins_listing")[0] == 200, "tensorboard to answer")
        # A shared link to a pair, opened before the server has listed anything (ids are the
        # checkpoints' paths, stable across restarts: checked below once they are listed).
        pair = {"base": "checkpoint:hostile_names/clean.safetensors",
                "target": "checkpoint:hostile_names/evil.safetensors"}
        tab.open_link(pair)
        note = tab.ui.locator("#scanning")
        note.wait_for(timeout=60000)
        assert _get(base + "data/plugin/ckptdiff/runs")[1]["scanning"] is True
        assert "Looking for checkpoints" in tab.ui.locator("#panel-diff").inner_text()
        assert tab.ui.locator("#panel-diff").is_visible()
        release.touch()
        # No reload from anyone (TensorBoard's own is off): the tab asks again by itself.
        tab.wait_ready()
        # The note stays while the server still verifies what the walk found (every
        # checkpoint is read once, in a reader process), then goes without a reload.
        note.wait_for(state="detached", timeout=90000)
        assert _get(base + "data/plugin/ckptdiff/runs")[1]["scanning"] is False
        assert _hostile_ids(base) == {"clean.safetensors": "hostile_names/clean.safetensors",
                                      "evil.safetensors": "hostile_names/evil.safetensors"}
        assert tab.ui.locator("#pick-base").input_value() == pair["base"]  # the linked pair survived
        assert tab.ui.locator("#pick-target").input_value() == pair["target"]
        assert tab.ui.locator(".vt-row").count() > 0
        assert not tab.errors, tab.errors
    finally:
        tab.close()
        servers.stop(process)
