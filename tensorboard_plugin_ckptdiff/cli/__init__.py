"""The ``ckptdiff`` command over the same core as the plugin.

Exit status: 0 success (for ``diff``: restorable), 1 not restorable, 2 bad input or an
unreadable/incomplete checkpoint, with a one-line message on stderr and no traceback.
"""

from __future__ import annotations

import argparse
import gc
import os
import sys

from tensorboard_plugin_ckptdiff.cli import held
from tensorboard_plugin_ckptdiff.errors import CheckpointError, InvalidArgument, NotFound

EXIT_OK, EXIT_NOT_RESTORABLE, EXIT_BAD_INPUT = 0, 1, 2
EXIT_BROKEN_PIPE = 128 + 13  # what a shell reports for a command stopped by SIGPIPE


class _Formatter(argparse.HelpFormatter):
    """argparse's, sized without shutil: building a parser makes a formatter per argument (to
    check its metavar), and argparse's imports shutil to size it (with zlib, bz2 and lzma:
    ~2.4 ms of every command). The width is found as shutil finds it."""

    def __init__(self, prog, indent_increment=2, max_help_position=24, width=None, **more):
        super().__init__(prog, indent_increment, max_help_position, _columns() - 2 if width is None else width,
                         **more)  # (newer Pythons pass more, e.g. color)


def _columns() -> int:
    try:
        columns = int(os.environ.get("COLUMNS", ""))
    except ValueError:
        columns = 0
    if columns <= 0:
        try:
            columns = os.get_terminal_size(sys.__stdout__.fileno()).columns
        except (AttributeError, ValueError, OSError):
            columns = 0
    return columns or 80


class _Parser(argparse.ArgumentParser):
    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", _Formatter)
        super().__init__(*args, **kwargs)

    def error(self, message):  # argparse's own exit status is 2 as well; keep it one line
        self.print_usage(sys.stderr)
        print(f"ckptdiff: error: {message}", file=sys.stderr)
        sys.exit(EXIT_BAD_INPUT)


def _ls(args) -> int:
    from tensorboard_plugin_ckptdiff import formats
    from tensorboard_plugin_ckptdiff.cli import json_listing
    from tensorboard_plugin_ckptdiff.diff import text

    checkpoint = formats.read(args.path)
    held.hold(checkpoint)
    if args.json:
        print(json_listing.ls_json(checkpoint))
    else:
        print(text.checkpoint_text(checkpoint))
    return EXIT_OK


def build_parser(command=None) -> argparse.ArgumentParser:
    """The parser; with ``command`` (the one named on the command line) only that command's
    own parser besides ``ls``: registering a command imports its modules, and ``ls`` should
    not pay for diff's and remap's (tens of milliseconds of a ~0.25 s command)."""
    from tensorboard_plugin_ckptdiff import __version__

    parser = _Parser(prog="ckptdiff", description="Why a checkpoint will not restore into a model.")
    parser.add_argument("--version", action="version", version=f"ckptdiff {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    ls = sub.add_parser("ls", help="list the variables of one checkpoint")
    ls.add_argument("path", help="checkpoint prefix, file, directory with a 'checkpoint' state file, or SavedModel dir")
    ls.add_argument("--json", action="store_true", help="print the same JSON as the HTTP routes")
    ls.set_defaults(run=_ls)
    for name, register in _EXTRA_COMMANDS.items():
        if command in (None, name):
            register(sub)
    return parser


def _register_diff(sub):
    from tensorboard_plugin_ckptdiff.cli import diff as cli_diff

    cli_diff.register(sub)


def _register_drift(sub):
    from tensorboard_plugin_ckptdiff.cli import drift

    drift.register(sub)


def _register_remap(sub):
    from tensorboard_plugin_ckptdiff.cli import remap

    remap.register(sub)


_EXTRA_COMMANDS = {"diff": _register_diff, "drift": _register_drift, "remap": _register_remap}


def run() -> None:
    """The ``ckptdiff`` command (console script and ``python -m``): main(), then exit."""
    held.start()
    code = main()
    # On the way out Python collects garbage across every object still tracked, tens of
    # thousands after a listing: ~20 ms of a ~270 ms command, for memory the OS takes back
    # anyway. Frozen objects are skipped; atexit handlers and stream flushes still run; what
    # the command held (cli.held) is never freed.
    held.finish()
    gc.freeze()
    sys.exit(code)


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    named = argv[0] if argv else None
    args = build_parser(named if named == "ls" or named in _EXTRA_COMMANDS else None).parse_args(argv)
    # The command's edge, the one place the collector is paused: a command is one pass that
    # makes hundreds of thousands of small records and tuples, none in a cycle, and each burst
    # of them would make the collector rescan every object (TensorFlow's many, when loaded).
    # The core never does this: it runs inside TensorBoard's process and users' programs.
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        return args.run(args)
    except BrokenPipeError:
        # The reader went away (`ckptdiff ls X | head`): stop quietly, as a shell's ls does,
        # and let nothing more reach the closed pipe when Python flushes stdout at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_BROKEN_PIPE
    except (CheckpointError, InvalidArgument, NotFound, OSError) as e:
        print(f"ckptdiff: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        return 130
    finally:
        if was_enabled:
            gc.enable()
