"""``ckptdiff diff`` as a user runs it: a subprocess, exit status 0/1/2, text or JSON."""

import json
import os
import subprocess
import sys
import textwrap

import pytest
from makers import restore

from tensorboard_plugin_ckptdiff import api
from tensorboard_plugin_ckptdiff.remapping import command as remap_command

SAVED = [("dense_1", (3, 4)), ("dense_output", (4, 2))]
RENAMED = [("incorrect_name", (3, 4)), ("dense_output", (4, 2))]

MODELS = textwrap.dedent('''
    import keras

    def same():
        return keras.Sequential([keras.Input((3,)), keras.layers.Dense(4), keras.layers.Dense(3)], name="model")

    def wider():
        return keras.Sequential([keras.Input((3,)), keras.layers.Dense(5), keras.layers.Dense(3)], name="model")
''')


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli_diff")
    (root / "user_models.py").write_text(MODELS)
    saved = restore.tf1_save(SAVED, str(root / "saved" / "model.ckpt"))
    renamed = restore.tf1_save(RENAMED, str(root / "renamed" / "model.ckpt"))
    tf2 = restore.tf2_write(restore.dense_model([4, 3]), str(root / "tf2"))
    return {"root": str(root), "saved": saved, "renamed": renamed, "tf2": tf2}


def our_lines(stderr):
    """Our lines on stderr (TensorFlow's native logging, when a model is imported, is not ours)."""
    return [line for line in stderr.splitlines() if not line.startswith(("WARNING: All log", "I0000", "E0000", "W0000"))]


def ckptdiff(*args, cwd):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    return subprocess.run([sys.executable, "-m", "tensorboard_plugin_ckptdiff", "diff", *args],
                          cwd=cwd, capture_output=True, text=True, env=env, timeout=300)


def test_the_same_checkpoint_on_both_sides_exits_0(files):
    done = ckptdiff(files["saved"], files["saved"], cwd=files["root"])
    assert done.returncode == 0, done.stderr
    assert "Restorable" in done.stdout


def test_a_renamed_layer_exits_1_and_prints_the_scope_map(files):
    done = ckptdiff(files["renamed"], files["saved"], cwd=files["root"])
    assert done.returncode == 1, done.stderr
    assert "dense_1/ -> incorrect_name/" in done.stdout
    assert "init_from_checkpoint" in done.stdout


def test_json_output_is_the_reports_to_json(files):
    done = ckptdiff(files["renamed"], files["saved"], "--json", cwd=files["root"])
    report = api.compare(files["renamed"], files["saved"])
    # with the remap command the diff offers, as /diff gives it (TARGET as given: the prefix)
    report = remap_command.offered(report, [files["renamed"]], files["saved"], files["saved"])
    assert report.fix.snippets[-1].language == "shell"
    assert json.loads(done.stdout) == json.loads(json.dumps(report.to_json()))


def test_kinds_narrow_the_json_entries(files):
    done = ckptdiff(files["renamed"], files["saved"], "--json", "--kinds", "metadata", cwd=files["root"])
    entries = json.loads(done.stdout)["entries"]
    assert [e["base"]["name"] for e in entries] == ["global_step"]


def test_a_module_function_side_is_a_live_model_imported_from_the_working_directory(files):
    same = ckptdiff("user_models:same", files["tf2"], cwd=files["root"])
    wider = ckptdiff("user_models:wider", files["tf2"], cwd=files["root"])
    assert (same.returncode, wider.returncode) == (0, 1), same.stderr + wider.stderr
    assert "expects kernel (3, 5) but the checkpoint holds (3, 4)" in wider.stdout


@pytest.mark.parametrize("side", ["no_such_module:make", "not-a-path-or-function", "user_models:absent"])
def test_a_side_that_is_neither_a_path_nor_a_model_function_exits_2_with_one_line(files, side):
    done = ckptdiff(side, files["saved"], cwd=files["root"])
    assert done.returncode == 2
    assert len(our_lines(done.stderr)) == 1 and "Traceback" not in done.stderr


def test_an_incomplete_checkpoint_exits_2_with_one_line(files, tmp_path):
    prefix = restore.tf1_save(SAVED, str(tmp_path / "model.ckpt"))
    os.remove(prefix + ".data-00000-of-00001")  # the index is written, the data is not (yet)
    done = ckptdiff(files["saved"], prefix, cwd=files["root"])
    assert done.returncode == 2
    assert len(our_lines(done.stderr)) == 1 and "Traceback" not in done.stderr


def test_a_corrupt_checkpoint_exits_2_with_one_line(files, tmp_path):
    bad = tmp_path / "model.weights.h5"
    bad.write_bytes(b"\x89HDF\r\n\x1a\n" + b"\x00" * 64)
    done = ckptdiff(files["saved"], str(bad), cwd=files["root"])
    assert done.returncode == 2
    assert len(our_lines(done.stderr)) == 1 and "Traceback" not in done.stderr


def test_a_bad_mode_exits_2(files):
    assert ckptdiff(files["saved"], files["saved"], "--mode", "magic", cwd=files["root"]).returncode == 2


REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_version_prints_the_package_version():
    from tensorboard_plugin_ckptdiff import __version__

    done = subprocess.run([sys.executable, "-m", "tensorboard_plugin_ckptdiff", "--version"],
                          capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout.strip() == f"ckptdiff {__version__}"


def test_the_readme_example_prints_what_the_readme_says():
    with open(os.path.join(REPO, "README.md")) as f:
        readme = f.read()
    command = "$ ckptdiff diff examples.mymodels:model demo_logs/added_layer/ckpt/model.weights.h5\n"
    shown = readme[readme.index(command) + len(command):]
    shown = shown[: shown.index("```")]
    done = subprocess.run([sys.executable, "-m", "tensorboard_plugin_ckptdiff", *command[2:].split()[1:]],
                          cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 1, done.stderr
    assert done.stdout == shown


def test_snippets_name_the_target_as_it_was_given(files):
    done = subprocess.run([sys.executable, "-m", "tensorboard_plugin_ckptdiff", "diff", "user_models:wider", "tf2/ckpt"],
                          cwd=files["root"], capture_output=True, text=True)
    assert done.returncode == 1 and "'tf2/ckpt'" in done.stdout


@pytest.mark.parametrize("columns", ["50", "132", "", "wide"])
def test_help_is_as_wide_as_argparse_makes_it(monkeypatch, columns):
    """The parser's formatter sizes itself without shutil (see cli._Formatter): the same
    width as argparse's own, whatever COLUMNS says."""
    import argparse

    from tensorboard_plugin_ckptdiff import cli

    monkeypatch.setenv("COLUMNS", columns)
    assert cli._Formatter("ckptdiff")._width == argparse.HelpFormatter("ckptdiff")._width
    help_text = cli.build_parser().format_help()
    if columns == "50":
        assert max(map(len, help_text.splitlines())) <= 48


def test_main_in_a_program_holds_nothing_past_its_return(files, capsys):
    """Only the ckptdiff process keeps what it made to its exit (cli.held): main() called
    from a program (as here) leaves every checkpoint to be freed."""
    import gc
    import weakref

    from tensorboard_plugin_ckptdiff import cli, records
    from tensorboard_plugin_ckptdiff.cli import held

    made = []
    original = records.Checkpoint.__init__

    def noting(self, *args, **kwargs):
        original(self, *args, **kwargs)
        made.append(weakref.ref(self))

    monkeypatch = pytest.MonkeyPatch()
    monkeypatch.setattr(records.Checkpoint, "__init__", noting)
    try:
        code = cli.main(["diff", os.path.join(files["root"], files["saved"]),
                         os.path.join(files["root"], files["saved"])])
    finally:
        monkeypatch.undo()
    assert code == 0 and "Restorable" in capsys.readouterr().out
    gc.collect()
    assert made and all(ref() is None for ref in made) and held._held is None
