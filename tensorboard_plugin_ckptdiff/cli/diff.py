"""``ckptdiff diff BASE TARGET``: would TARGET restore into BASE, and what would fix it."""

from __future__ import annotations

import dataclasses
import importlib
import os
import sys

from tensorboard_plugin_ckptdiff import records
from tensorboard_plugin_ckptdiff.cli import held
from tensorboard_plugin_ckptdiff.errors import InvalidArgument

EXIT_RESTORABLE, EXIT_NOT_RESTORABLE = 0, 1


def register(subparsers) -> None:
    diff = subparsers.add_parser(
        "diff", help="would TARGET restore into BASE: per-variable statuses, the verdict and a fix")
    for side, what in (("base", "what is restored into"), ("target", "what is read")):
        diff.add_argument(side, help=f"{what}: {SIDE_HELP}")
    add_architecture_option(diff)
    diff.add_argument("--mode", default="auto",
                      choices=records.MODES,
                      help="how to pair variables (default: the real loader's rule for TARGET's format)")
    diff.add_argument("--kinds", default=None,
                      help="comma-separated kinds to show: weight, optimizer, metadata (default: all)")
    diff.add_argument("--json", action="store_true", help="print the same JSON as the HTTP route")
    diff.add_argument("--all", action="store_true", help="also list the variables that match")
    diff.set_defaults(run=_diff)


def _diff(args) -> int:
    from tensorboard_plugin_ckptdiff import api, diff
    from tensorboard_plugin_ckptdiff.remapping import command as remap_command
    from tensorboard_plugin_ckptdiff.diff import text

    base = api.as_base(side(args.base, args.architecture))
    target = _as_given(api.as_target(side(args.target)), args.target)
    report = remap_command.offered(api.compare(base, target, mode=args.mode),
                                   base_argument(args.base, args.architecture), args.target, target.path)
    report = diff.narrowed(report, args.kinds)
    held.hold(base, target, report)
    if args.json:
        import json  # here: the text a person reads does not pay for it

        print(json.dumps(report.to_json(), indent=1))
    else:
        print(text.report_text(report, matches=args.all))
    return EXIT_RESTORABLE if report.restorable else EXIT_NOT_RESTORABLE


def _as_given(target, arg: str):
    """Snippets name the file as the user named it here, when that names the same file."""
    location = getattr(target, "location", None)
    if location and "://" not in arg and os.path.abspath(arg) == location:
        return dataclasses.replace(target, location=arg)
    return target


SIDE_HELP = ("a checkpoint path (prefix, file, directory, URL with ://), a .keras archive, a TF1 .meta "
             "file, a TensorBoard run directory (its newest architecture, or --architecture), or "
             "module:function returning a Keras model or tf.Module")


def add_architecture_option(parser) -> None:
    parser.add_argument("--architecture", metavar="SOURCE/STEP", default=None,
                        help="when BASE is a run directory: which of its architectures (graph/0, model_spec/3); "
                             "default: the newest")


def base_argument(arg: str, architecture=None):
    """BASE as it is spelled on a command line (for the remap command a diff offers)."""
    return [arg] + (["--architecture", architecture] if architecture else [])


def side(arg: str, architecture=None):
    """A path when it exists or is a URL (a run directory: its architecture; a ``.meta``: the
    graph it describes); otherwise ``dotted.module:function``."""
    from tensorboard_plugin_ckptdiff.architectures import run_dir

    if run_dir.is_run(arg) and not os.path.exists(os.path.join(arg, "checkpoint")):
        return run_dir.choose(arg, architecture)
    if architecture:
        raise InvalidArgument("--architecture picks among the architectures of a run directory; "
                              f"{arg!r} is not one")
    if arg.endswith(".meta") and os.path.isfile(arg):
        from tensorboard_plugin_ckptdiff.architectures import meta_graph

        return meta_graph.from_meta_graph_file(None, arg, id=arg)
    if "://" in arg or os.path.exists(arg) or os.path.exists(arg + ".index"):
        return arg
    module_name, colon, function = arg.partition(":")
    if not colon or not module_name or not function.isidentifier():
        raise InvalidArgument(f"{arg!r} is neither an existing checkpoint path nor module:function")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ImportError as e:
        raise InvalidArgument(f"cannot import {module_name!r} for {arg!r}: {e}") from e
    make = getattr(module, function, None)
    if not callable(make):
        raise InvalidArgument(f"{module_name!r} has no function {function!r}")
    try:
        model = make()
    except Exception as e:  # the user's code: say where it broke, in one line
        raise InvalidArgument(f"{arg} raised {type(e).__name__}: {e}") from e
    return model
