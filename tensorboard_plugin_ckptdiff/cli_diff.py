"""``ckptdiff diff BASE TARGET``: would TARGET restore into BASE, and what would fix it."""

from __future__ import annotations

import dataclasses
import importlib
import json
import os
import sys

from tensorboard_plugin_ckptdiff.errors import InvalidArgument

EXIT_RESTORABLE, EXIT_NOT_RESTORABLE = 0, 1


def register(subparsers) -> None:
    diff = subparsers.add_parser(
        "diff", help="would TARGET restore into BASE: per-variable statuses, the verdict and a fix")
    for side, what in (("base", "what is restored into"), ("target", "what is read")):
        diff.add_argument(side, help=(
            f"{what}: a checkpoint path (prefix, file, directory, URL with ://), a .keras archive, "
            "or module:function returning a Keras model or tf.Module"))
    diff.add_argument("--mode", default="auto",
                      choices=("auto", "name", "object_path", "keras_order", "transformers", "structure"),
                      help="how to pair variables (default: the real loader's rule for TARGET's format)")
    diff.add_argument("--kinds", default=None,
                      help="comma-separated kinds to show: weight, optimizer, metadata (default: all)")
    diff.add_argument("--json", action="store_true", help="print the same JSON as the HTTP route")
    diff.add_argument("--all", action="store_true", help="also list the variables that match")
    diff.set_defaults(run=_diff)


def _diff(args) -> int:
    from tensorboard_plugin_ckptdiff import api, text_report

    base = api.as_base(side(args.base))
    target = _as_given(api.as_target(side(args.target)), args.target)
    report = api.compare(base, target, mode=args.mode, kinds=args.kinds)
    if args.json:
        print(json.dumps(report.to_json(), indent=1))
    else:
        print(text_report.render(report, matches=args.all))
    return EXIT_RESTORABLE if report.restorable else EXIT_NOT_RESTORABLE


def _as_given(target, arg: str):
    """Snippets name the file as the user named it here, when that names the same file."""
    location = getattr(target, "location", None)
    if location and "://" not in arg and os.path.abspath(arg) == location:
        return dataclasses.replace(target, location=arg)
    return target


def side(arg: str):
    """A path when it exists or is a URL; otherwise ``dotted.module:function``."""
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
