"""The tab as a person meets it, in a real TensorBoard driven in Debian's Chromium: the
overview first, the matrix, run-aware pairing, and a layout that shows what matters —
asserted by what is on screen (visibility, boxes inside the window, computed style, the
words), with the backend's own answers as the expectations.
"""

import json
import os
import re
import shutil

import pytest

from makers import browser as chromium
from makers import logdirs, servers
from makers.browser import Tab

pytestmark = pytest.mark.e2e

API = "data/plugin/ckptdiff/"
MANY_ROWS = 300  # variables of the big pair: more rows than any window shows


def _get(server, route, **args):
    import urllib.parse

    status, body = servers.get_json(server + API + route + ("?" + urllib.parse.urlencode(args) if args else ""))
    assert status == 200, body
    return body


def _settled(server, route, **args):
    out = {}

    def done():
        out["body"] = _get(server, route, **args)
        return out["body"]["status"] == "done"

    servers.wait_until(done, f"/{route} to finish")
    return out["body"]


def _many_rows_pair(root):
    """Two safetensors files of MANY_ROWS variables, a few of them changed, in one run."""
    import numpy as np
    from safetensors.numpy import save_file

    directory = os.path.join(root, "many_rows")
    os.makedirs(directory)
    names = [f"encoder/block_{i // 10:02d}/layer_{i % 10}/kernel" for i in range(MANY_ROWS)]
    base = {n: np.zeros((4, 4), np.float32) for n in names}
    target = dict(base)
    for n in names[5:8]:
        target[n] = np.zeros((4, 5), np.float32)  # three shape mismatches
    del target[names[-1]]  # one missing
    save_file(base, os.path.join(directory, "base.safetensors"))
    save_file(target, os.path.join(directory, "target.safetensors"))


def _serve(root):
    process, base = chromium.start_tensorboard(root)
    chromium.settled_runs(base)
    return process, base


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """demo_logs/ and a pair whose diff has more rows than a window holds."""
    root = str(tmp_path_factory.mktemp("views") / "logs")
    shutil.copytree(logdirs.DEMO_LOGS, root)
    _many_rows_pair(root)
    process, base = _serve(root)
    yield base
    servers.stop(process)


@pytest.fixture(scope="module")
def messy(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("messy") / "logs")
    made = logdirs.messy_logdir(root)
    process, base = _serve(root)
    yield base, made
    servers.stop(process)


@pytest.fixture(scope="module")
def many(tmp_path_factory):
    """105 runs (copies of keras_fit): more than a page of the overview and of the matrix."""
    root = str(tmp_path_factory.mktemp("many") / "logs")
    for i in range(105):
        shutil.copytree(os.path.join(logdirs.DEMO_LOGS, "keras_fit"), os.path.join(root, f"run_{i:03d}"))
    process, base = _serve(root)
    yield base
    servers.stop(process)


@pytest.fixture
def tab(browser, demo):
    t = Tab(browser, demo, width=1400, height=900)
    yield t
    t.close()


def _pair(ui):
    return ui.locator("#pick-base").input_value(), ui.locator("#pick-target").input_value()


def _closed_text(ui, picker):
    """What a closed <select> shows: its chosen option's text."""
    return ui.locator(picker).evaluate("s => s.options[s.selectedIndex] ? s.options[s.selectedIndex].text : ''")


def _inside_window(tab, locator):
    box = locator.bounding_box()
    size = tab.page.viewport_size
    return box is not None and box["x"] >= 0 and box["y"] >= 0 and \
        box["x"] + box["width"] <= size["width"] + 0.5 and box["y"] + box["height"] <= size["height"] + 0.5


# ---------------------------------------------------------------- the overview


def test_the_overview_opens_first_and_says_what_the_server_says(tab, demo):
    tab.open_link()
    ui = tab.wait_overview()
    expected = _settled(demo, "overview")
    rows = ui.locator(".overview-table .ov-row")
    assert rows.count() == len(expected["rows"])
    for i, row in enumerate(expected["rows"]):
        shown = rows.nth(i)
        assert shown.is_visible() and shown.get_attribute("data-run") == row["run"]
        assert shown.get_attribute("data-outcome") == row["outcome"]
        if row["verdict"]:
            sentence = re.sub(r"^(Not restorable|Restorable):\s*", "", row["verdict"]["verdict"])
            assert sentence[1:] in shown.locator(".ov-sentence").inner_text(), row["run"]
        assert shown.locator(".ov-mark").count() == len(row["timeline"])
        older = sum(1 for m in row["timeline"][:-1] if m["mark"] == "not_restorable")
        assert ("older checkpoint" in shown.inner_text()) == bool(older), row["run"]
    # problems first: the first row on screen is one that does not restore
    assert rows.first.get_attribute("data-outcome") == "not_restorable"
    assert _inside_window(tab, rows.first)


def _readme_claims():
    """The demo table of the README: {run: what the tab says}."""
    with open(os.path.join(chromium.ROOT, "README.md")) as f:
        text = f.read()
    return dict(re.findall(r"^\| `(\w+)` \| [^|]+ \| (.+) \|$", text, re.M))


def _open_from_overview(tab, run):
    ui = tab.ui
    ui.locator(f".ov-row[data-run='{run}/train']").click()
    return tab.wait_ready()


def _fix_text(tab):
    ui = tab.ui
    ui.locator(".fix-button").click()
    drawer = ui.locator("#fix-drawer")
    assert drawer.is_visible() and _inside_window(tab, drawer.locator("h3"))
    text = drawer.inner_text()
    drawer.press("Escape")
    assert not drawer.is_visible()
    return text


def _chip(ui, status):
    return int(ui.locator(f".chip[data-status={status}] .chip-count").inner_text())


def _check_claim(tab, run):
    """What the README says the tab shows for ``run``, as a person reads it there."""
    ui = tab.ui
    title = ui.locator(".verdict-title").inner_text()
    verdict = ui.locator(".verdict-text").inner_text()
    if run == "added_layer":
        assert title.startswith("Not restorable")
        assert all(s in verdict for s in ("dense_1", "(64, 32)", "(64, 10)")), verdict
        assert _chip(ui, "missing") > 0  # the last layer
    elif run == "renamed_layer_tf1":
        assert _chip(ui, "renamed") > 0
        fix = _fix_text(tab)
        assert re.search(r"dense_1/\s*→\s*incorrect_name/", fix) and "init_from_checkpoint" in fix, fix
    elif run == "renamed_layer_keras":
        assert title.startswith("Restorable") and "by class and order" in verdict
    elif run == "dtype_change":
        assert title.startswith("Not restorable") and "RestoreV2 does not cast" in verdict
        assert _chip(ui, "dtype_mismatch") > 0
        assert "safe cast" in ui.locator(".vt-row.row-dtype_mismatch .detail").first.inner_text()
    elif run == "fine_tuning":
        assert _chip(ui, "shape_mismatch") == 2
        names = [r["text"] for r in tab.rows_on_screen("#panel-diff .vt-row.row-shape_mismatch")]
        assert len(names) == 2 and any("head/kernel" in n for n in names) and any("head/bias" in n for n in names)
        assert "skip_mismatch=True" in _fix_text(tab)
    elif run == "tf2_training":
        assert title.startswith("Restorable") and "not resumable" not in title
    elif run == "tf1_saver":
        sources = ui.locator("#pick-base optgroup[label^='tf1_saver'] option").all_text_contents()
        assert any("(graph)" in s for s in sources) and any("(meta_graph)" in s for s in sources), sources
        assert "tf1_saver/train" in _closed_text(ui, "#pick-base")
    elif run == "keras_fit":
        assert _closed_text(ui, "#pick-base").startswith("keras_fit/train · model")
        assert _closed_text(ui, "#pick-target").startswith("keras_fit/ckpt · model-02.weights.h5")
        assert ui.locator(".cross-run, .cross-run-badge").count() == 0
        assert title.startswith("Restorable")
    else:
        raise AssertionError(f"the README claims something about {run} this test does not check")


def test_each_demo_run_opened_from_the_overview_shows_the_readmes_claim(tab, demo):
    claims = _readme_claims()
    assert sorted(claims) == sorted(d for d in os.listdir(logdirs.DEMO_LOGS))
    for run in sorted(claims):
        tab.open_link()
        tab.wait_overview()
        ui = _open_from_overview(tab, run)
        assert ui.locator("#tab-diff").get_attribute("aria-selected") == "true"
        assert ui.locator(".verdict").is_visible()
        row = next(r for r in _settled(demo, "overview")["rows"] if r["run"] == f"{run}/train")
        assert _pair(ui) == (row["base"], row["target"]), run
        _check_claim(tab, run)
        tab.shot(f"claim-{run}")


def test_unreadable_runs_are_grouped_and_quiet_at_the_end(browser, messy):
    base, made = messy
    with Tab(browser, base, width=1400, height=900) as tab:
        tab.open_link()
        ui = tab.wait_overview()
        broken = ui.locator(f".ov-row[data-run='{made['broken']}']")
        assert broken.count() == 1 and not broken.is_visible()
        assert "1 unreadable" in ui.locator(".ov-summary").inner_text()
        ui.locator(".ov-quiet-rows summary").click()
        assert broken.is_visible()
        outcomes = ui.locator(".ov-row").evaluate_all("rows => rows.map(r => r.dataset.outcome)")
        assert outcomes[0] == "not_restorable" and outcomes[-1] == "unreadable"
        changed = ui.locator(f".ov-row[data-run='{made['changed']}/train']")
        assert changed.get_attribute("data-outcome") == "changed"
        assert changed.locator(".ov-mark.mark-not_restorable").is_visible()
        assert "1 older checkpoint does not restore into this model." in changed.inner_text()


def test_no_console_error_on_first_open_of_a_logdir_with_unreadable_files(browser, messy):
    base, _ = messy
    with Tab(browser, base, width=1400, height=900) as tab:
        tab.open_link()
        ui = tab.wait_overview()
        for view in ("diff", "browser", "matrix", "overview"):
            ui.locator(f"#tab-{view}").click()
            ui.locator(f"#panel-{view}").wait_for()
            if view == "diff":
                tab.wait_ready()
                assert ui.locator(".verdict").is_visible()
            if view == "matrix":
                ui.locator("#panel-matrix[aria-busy=false] table.matrix-table").wait_for(timeout=60000)
        assert tab.errors == []


def test_the_overview_pages_past_a_hundred_runs(browser, many):
    with Tab(browser, many, width=1400, height=900) as tab:
        tab.open_link()
        ui = tab.wait_overview()
        pager = ui.locator("#panel-overview .pager-text")
        assert pager.inner_text() == "Runs 1–100 of 105"
        assert ui.locator(".ov-row").count() == 100
        ui.locator("#panel-overview .pager-next").click()
        ui.locator("#panel-overview .pager-text", has_text="Runs 101–105 of 105").wait_for()
        assert ui.locator(".ov-row").count() == 5 and ui.locator(".ov-row").first.is_visible()


# ---------------------------------------------------------------- the matrix


def test_a_matrix_cell_says_its_verdict_on_hover_and_opens_its_diff(tab, demo):
    expected = _settled(demo, "matrix")
    tab.open_link({"view": "matrix"})
    ui = tab.ui
    ui.locator("#panel-matrix[aria-busy=false] table.matrix-table").wait_for(timeout=60000)
    ui.locator(".mx-cell button[data-kind=pending]").first.wait_for(state="detached", timeout=60000)
    models = [m["run"] for m in expected["rows"]["items"]]
    columns = [c["run"] for c in expected["columns"]["items"]]
    i, j = models.index("added_layer/train"), columns.index("keras_fit/train")
    cell = ui.locator("table.matrix-table tbody tr").nth(i).locator("td.mx-cell").nth(j).locator("button")
    assert cell.is_visible() and _inside_window(tab, cell)
    assert expected["cells"][i][j]["verdict"] in cell.get_attribute("title")
    cell.click()
    ui = tab.wait_ready()
    assert _pair(ui) == ("architecture:" + expected["rows"]["items"][i]["architecture"]["id"],
                         "checkpoint:" + expected["columns"]["items"][j]["checkpoint"]["id"])
    assert ui.locator(".cross-run-badge").is_visible()


def test_the_matrix_pages_past_fifty_runs(browser, many):
    with Tab(browser, many, width=1400, height=900) as tab:
        tab.open_link({"view": "matrix"})
        ui = tab.ui
        ui.locator("#panel-matrix[aria-busy=false] table.matrix-table").wait_for(timeout=60000)
        texts = ui.locator("#panel-matrix .pager-text").all_inner_texts()
        assert texts[0] == "Models 1–50 of 105" and texts[1].startswith("Checkpoints 1–")
        columns = ui.locator("table.matrix-table thead th.mx-col")
        assert _inside_window(tab, columns.last), "the page of columns is wider than the window"
        ui.locator("#panel-matrix .pager-next").first.click()
        ui.locator("#panel-matrix .pager-text", has_text="Models 51–100 of 105").wait_for()
        assert ui.locator("table.matrix-table tbody tr").first.locator("th").inner_text().startswith("run_050")


# ---------------------------------------------------------------- pairing


def _arch(base, run):
    return "architecture:" + [a for r in chromium.settled_runs(base) if r["run"] == run for a in r["architectures"]][-1]["id"]


def _checkpoint(base, run, name):
    return "checkpoint:" + next(c["id"] for r in chromium.settled_runs(base) if r["run"] == run
                                for c in r["checkpoints"] if c["path"].endswith("/" + name))


def test_closed_pickers_name_the_run_and_a_new_base_re_pairs_the_target(tab, demo):
    ui = tab.open({"base": _arch(demo, "added_layer/train"), "target": _checkpoint(demo, "added_layer/ckpt", "model.weights.h5")})
    assert _closed_text(ui, "#pick-target") == "added_layer/ckpt · model.weights.h5"
    ui.locator("#pick-base").select_option(_arch(demo, "tf2_training/train"))
    tab.wait_ready()
    assert _pair(ui)[1] == _checkpoint(demo, "tf2_training/ckpt", "ckpt-3")
    assert _closed_text(ui, "#pick-target") == "tf2_training/ckpt · ckpt-3 · step 3"
    assert _closed_text(ui, "#pick-base").startswith("tf2_training/train · model")
    assert ui.locator(".cross-run").count() == 0


def test_a_pinned_target_stays_and_a_cross_run_pair_is_marked(tab, demo):
    ui = tab.open({"base": _arch(demo, "added_layer/train"), "target": _checkpoint(demo, "added_layer/ckpt", "model.weights.h5")})
    other = _checkpoint(demo, "keras_fit/ckpt", "model-01.weights.h5")
    ui.locator("#pick-target").select_option(other)
    tab.wait_ready()
    mark = ui.locator("#cross-run")
    assert mark.is_visible() and "added_layer/train" in mark.inner_text() and "keras_fit/train" in mark.inner_text()
    assert ui.locator(".verdict .cross-run-badge").is_visible()
    pin = ui.locator("button.pin")
    assert pin.is_visible() and pin.get_attribute("aria-pressed") == "true"
    ui.locator("#pick-base").select_option(_arch(demo, "dtype_change/train"))
    tab.wait_ready()
    assert _pair(ui)[1] == other, "a pinned target changed with the base"
    pin.click()
    tab.wait_ready()
    assert _pair(ui)[1] == _checkpoint(demo, "dtype_change/ckpt", "ckpt-1")
    assert ui.locator("#cross-run").count() == 0 and ui.locator("button.pin").count() == 0


def test_a_link_naming_only_a_base_pairs_it_with_its_own_run(tab, demo):
    ui = tab.open({"base": _arch(demo, "fine_tuning/train")})
    assert _pair(ui)[1] == _checkpoint(demo, "fine_tuning/ckpt", "pretrained.weights.h5")
    assert ui.locator(".verdict").is_visible() and ui.locator("#cross-run").count() == 0


def test_one_run_opens_on_its_model_against_its_newest_readable_checkpoint(browser, tmp_path):
    root = str(tmp_path / "logs")
    shutil.copytree(os.path.join(logdirs.DEMO_LOGS, "tf2_training"), os.path.join(root, "tf2_training"))
    ckpt = os.path.join(root, "tf2_training", "ckpt")
    logdirs.copy_bundle(os.path.join(ckpt, "ckpt-3"), os.path.join(ckpt, "ckpt-4"))
    with open(os.path.join(ckpt, "ckpt-4.index"), "r+b") as f:
        f.seek(20)
        f.write(b"\xff\xff")  # newer, and unreadable: never the default
    process, base = chromium.start_tensorboard(root)
    try:
        chromium.settled_runs(base)
        with Tab(browser, base, width=1400, height=900) as tab:
            tab.open_link()
            ui = tab.wait_ready()
            assert ui.locator("#tab-diff").get_attribute("aria-selected") == "true"
            assert _pair(ui) == (_arch(base, "tf2_training/train"), _checkpoint(base, "tf2_training/ckpt", "ckpt-3"))
            assert ui.locator(".verdict").is_visible()
            assert tab.errors == []
    finally:
        servers.stop(process)


# ---------------------------------------------------------------- layout


def _seed_pairs(base):
    return [(r["run"], r["base"], r["target"]) for r in _settled(base, "overview")["rows"]]


def _big_pair(base):
    return _checkpoint(base, "many_rows", "base.safetensors"), _checkpoint(base, "many_rows", "target.safetensors")


def test_the_verdict_and_the_fix_are_in_the_first_viewport_however_many_rows(tab, demo):
    pairs = [(run, b, t) for run, b, t in _seed_pairs(demo) if _get(demo, "diff", base=b, target=t)["fix"]["snippets"]]
    pairs.append(("many_rows", *_big_pair(demo)))
    for run, base_ref, target_ref in pairs:
        ui = tab.open({"base": base_ref, "target": target_ref, "kinds": "weight,optimizer,metadata"})
        assert _inside_window(tab, ui.locator(".verdict")), run
        fix = ui.locator(".fix-button")
        assert fix.is_visible() and _inside_window(tab, fix), run
        fix.click()
        code = ui.locator("#fix-drawer pre.code").first
        assert code.is_visible() and _inside_window(tab, ui.locator("#fix-drawer h4").first), run
        ui.locator("#fix-drawer").press("Escape")
    # the big pair: its rows scroll inside the grid, the legend stays on screen under it
    assert tab.shown()[1] == MANY_ROWS
    assert _inside_window(tab, ui.locator("#panel-diff .legend"))


def test_the_table_is_as_tall_as_its_rows(tab, demo):
    run, base_ref, target_ref = next(p for p in _seed_pairs(demo) if p[0] == "keras_fit/train")
    ui = tab.open({"base": base_ref, "target": target_ref})
    grid = ui.locator("#panel-diff .vt-viewport").bounding_box()
    rows = tab.rows_on_screen()
    rows_height = tab.frame.evaluate("[...document.querySelectorAll('#panel-diff .vt-row')]"
                                     ".filter(r => !r.hidden).reduce((h, r) => h + r.getBoundingClientRect().height, 0)")
    assert rows and abs(grid["height"] - rows_height) <= 2, (grid, rows_height)
    legend = ui.locator("#panel-diff .legend").bounding_box()
    assert 0 <= legend["y"] - (grid["y"] + grid["height"]) <= 30


def _controls_outside(tab, width):
    """Every visible control of the tab whose box leaves [0, width], or whose text is wider than its box."""
    return tab.frame.evaluate("""(width) => {
        const out = [];
        const canvas = document.createElement('canvas').getContext('2d');
        for (const el of document.querySelectorAll('button, select, input, summary, a, .mx-col-label')) {
            const b = el.getBoundingClientRect();
            if (!b.width || !b.height || getComputedStyle(el).visibility === 'hidden') continue;
            const name = el.id || el.className || el.tagName;
            if (b.left < -0.5 || b.right > width + 0.5) out.push(`${name} spans ${b.left}..${b.right}`);
            if (el.tagName === 'SELECT' && el.selectedIndex >= 0) {
                const s = getComputedStyle(el);
                canvas.font = `${s.fontSize} ${s.fontFamily}`;
                const text = el.options[el.selectedIndex].text;
                if (canvas.measureText(text).width > el.clientWidth - 28) out.push(`${name} cuts "${text}"`);
            }
        }
        return out;
    }""", width)


def test_nothing_is_clipped_at_1280_px(browser, messy):
    base, made = messy
    long_run = next(r for r in made["runs"] if logdirs.LONG in r)
    with Tab(browser, base, width=1280, height=900) as tab:
        tab.open_link()
        tab.wait_overview()
        assert _controls_outside(tab, 1280) == []
        ui = tab.open({"base": _arch(base, long_run + "/train"), "target": _checkpoint(base, "changed_mid_run/ckpt", "ckpt-1"),
                       "kinds": "weight,optimizer,metadata"})
        assert _controls_outside(tab, 1280) == []
        for view in ("browser", "matrix"):
            ui.locator(f"#tab-{view}").click()
            if view == "matrix":
                ui.locator("#panel-matrix[aria-busy=false] table.matrix-table").wait_for(timeout=60000)
            else:
                ui.locator("#panel-browser table.checkpoints").wait_for()
            assert _controls_outside(tab, 1280) == [], view
            tab.shot(f"1280-{view}")


def test_long_keys_keep_their_end_with_the_full_text_on_hover_and_when_copied(browser, demo):
    with Tab(browser, demo, width=1280, height=900) as tab:
        ui = tab.open({"base": _arch(demo, "tf2_training/train"), "target": _checkpoint(demo, "tf2_training/ckpt", "ckpt-3"),
                       "kinds": "weight,optimizer"})
        cut = tab.frame.evaluate("""() => [...document.querySelectorAll('#panel-diff .var-key')]
            .filter(k => k.querySelector('.mid-head').scrollWidth > k.querySelector('.mid-head').clientWidth)
            .map(k => k.title)""")
        assert cut, "no key was long enough to be cut: the test could not tell"
        key = cut[0]
        element = ui.locator(f"#panel-diff .var-key[title='{key}']").first
        tail = element.locator(".mid-tail")
        box, tail_box = element.bounding_box(), tail.bounding_box()
        assert tail.is_visible() and tail_box["x"] + tail_box["width"] <= box["x"] + box["width"] + 0.5
        assert key.endswith(tail.inner_text()) and len(tail.inner_text()) > 3
        assert element.get_attribute("title") == key  # hover
        element.evaluate("e => { window.focus(); const r = document.createRange(); r.selectNodeContents(e);"
                         " getSelection().removeAllRanges(); getSelection().addRange(r); }")
        tab.page.keyboard.press("Control+C")
        assert tab.page.evaluate("navigator.clipboard.readText()") == key


def test_details_wrap_instead_of_being_cut(tab, demo):
    run, base_ref, target_ref = next(p for p in _seed_pairs(demo) if p[0] == "renamed_layer_tf1/train")
    ui = tab.open({"base": base_ref, "target": target_ref})
    details = ui.locator("#panel-diff .vt-row.row-renamed .detail-text")
    assert details.count() >= 1
    for i in range(details.count()):
        # not clamped, and all of it inside its row (a row of fixed height would cut it)
        cut = details.nth(i).evaluate("""e => e.scrollHeight > e.clientHeight + 1 || e.scrollWidth > e.clientWidth + 1
            || e.getBoundingClientRect().bottom > e.closest('.vt-row').getBoundingClientRect().bottom + 0.5
            || e.getBoundingClientRect().bottom > e.closest('.vt-td').getBoundingClientRect().bottom + 0.5""")
        assert not cut, details.nth(i).inner_text()


def test_each_filter_and_collapse_hides_rows_on_screen(tab, demo):
    base_ref, target_ref = _big_pair(demo)
    ui = tab.open({"base": base_ref, "target": target_ref})
    assert len(tab.rows_on_screen()) > 10  # the window is full of rows first
    ui.locator(".chip[data-status=shape_mismatch]").click()
    on_screen = tab.rows_on_screen("#panel-diff .vt-row.item")
    assert len(on_screen) == 3 and all("row-shape_mismatch" in r["cls"] for r in on_screen)
    ui.locator(".chip[data-status=shape_mismatch]").click()  # all rows again
    ui.locator("button", has_text="Collapse all").click()
    on_screen = tab.rows_on_screen()
    assert on_screen and all("group" in r["cls"].split() for r in on_screen), on_screen
    assert len(on_screen) == 1  # everything under the one top scope, "encoder"
    ui.locator("button", has_text="Expand all").click()
    ui.locator("#group-toggle").uncheck()
    assert not [r for r in tab.rows_on_screen() if "group" in r["cls"].split()]
    ui.locator("#panel-diff input.search").fill("block_29/")
    servers.wait_until(lambda: tab.shown()[0] == 10, "the search to narrow the rows", 20)
    on_screen = tab.rows_on_screen()
    assert len(on_screen) == 10 and all("block_29/" in r["text"] for r in on_screen)


# ---------------------------------------------------------------- names and the histogram


def test_a_variable_has_one_name_across_diff_drift_and_checkpoints(tab, demo):
    base_ref, target_ref = _checkpoint(demo, "tf2_training/ckpt", "ckpt-1"), _checkpoint(demo, "tf2_training/ckpt", "ckpt-3")
    variable = next(e["base"] for e in _get(demo, "diff", base=base_ref, target=target_ref, kinds="weight")["entries"]
                    if e["base"]["name"] != e["base"]["key"])
    name, key = variable["name"], variable["key"]

    def shown(scope):
        cell = tab.ui.locator(f"{scope} .var", has=tab.ui.locator(f".var-name[title='{name}']")).first
        return cell.locator(".var-name").get_attribute("title"), cell.locator(".var-key").get_attribute("title")

    ui = tab.open({"base": base_ref, "target": target_ref})
    assert shown("#panel-diff") == (name, key)
    ui.locator("#tab-drift").click()
    ui.locator("#panel-drift .drift-table").wait_for(timeout=90000)
    assert shown("#panel-drift") == (name, key)
    ui.locator("#tab-browser").click()
    ui.locator("#panel-browser tbody.run", has_text="tf2_training/ckpt").locator("button.link", has_text="ckpt-1").click()
    ui.locator("#panel-browser .browser-vars .vt-row.item").first.wait_for(timeout=30000)
    assert shown("#panel-browser .browser-vars") == (name, key)


def test_the_histogram_has_a_legend_for_every_colour_and_a_count_axis(tab, demo):
    base_ref, target_ref = _checkpoint(demo, "tf2_training/ckpt", "ckpt-1"), _checkpoint(demo, "tf2_training/ckpt", "ckpt-3")
    ui = tab.open({"base": base_ref, "target": target_ref})
    ui.locator("#tab-drift").click()
    ui.locator(".drift-table tbody tr.drift-row").first.click()
    hist = ui.locator(".drift-histogram svg.drift-hist")
    hist.wait_for(timeout=30000)
    drawn = set(hist.locator("rect").evaluate_all("rs => rs.map(r => r.getAttribute('fill'))"))
    legend = {item.get_attribute("data-side"): set(item.locator("rect").evaluate_all("rs => rs.map(r => r.getAttribute('fill'))"))
              for item in ui.locator(".drift-legend").all()}
    assert set(legend) == {"base", "target", "both"} and all(ui.locator(f".drift-legend[data-side={k}]").is_visible() for k in legend)
    assert legend["base"] | legend["target"] == drawn and legend["both"] == drawn
    ticks = [t for t in hist.locator(".y-axis text").all_text_contents() if t.replace(",", "").isdigit()]
    counts = [int(t.split(": ")[1].split(" ")[0]) for t in hist.locator("rect title").all_text_contents()]
    assert len(ticks) >= 2 and ticks[0] == "0" and int(ticks[-1].replace(",", "")) >= max(counts) / 2
    assert "values per bin" in hist.locator(".y-axis").text_content()


def test_a_match_the_loader_would_not_restore_is_shown_apart(tab, demo):
    run, base_ref, target_ref = next(p for p in _seed_pairs(demo) if p[0] == "keras_fit/train")

    def mark_one_unrestored(route):
        body = json.loads(route.fetch().text())  # the server's real answer, with one entry's `restored` flag
        first = next(e for e in body["entries"] if e["status"] == "match")
        first["restored"] = False
        route.fulfill(status=200, content_type="application/json", body=json.dumps(body))

    tab.page.route(lambda url: "/data/plugin/ckptdiff/diff?" in url, mark_one_unrestored)
    ui = tab.open({"base": base_ref, "target": target_ref})
    rows = ui.locator("#panel-diff .vt-row.row-match")
    unrestored = ui.locator("#panel-diff .vt-row.row-match.not-restored")
    assert unrestored.count() == 1 and rows.count() > 1
    note = unrestored.locator(".not-restored-note")
    assert note.is_visible() and note.inner_text() == "not restored"
    assert unrestored.evaluate("r => getComputedStyle(r).backgroundImage") != rows.last.evaluate(
        "r => getComputedStyle(r).backgroundImage")
