"""``ckptdiff remap TARGET --to BASE -o OUT``: write TARGET again so that BASE's loader restores it.

Exit status: 0 when the written checkpoint is restorable into BASE, 1 when it was written but
something is left that no remap fixes (the verdict says what), 2 when nothing was written
(bad input, an unreadable or incomplete checkpoint, OUT taken or one of TARGET's files).
"""

from __future__ import annotations

import json

EXIT_RESTORABLE, EXIT_LEFT = 0, 1


def register(subparsers) -> None:
    from tensorboard_plugin_ckptdiff.cli import diff as cli_diff
    from tensorboard_plugin_ckptdiff import records
    from tensorboard_plugin_ckptdiff.remapping import plan

    remap = subparsers.add_parser(
        "remap", help="write TARGET again, renamed and cast so that BASE restores it as it is",
        description="Write a copy of TARGET (in TARGET's format) that BASE's own loader restores: renamed "
                    "variables under the names BASE looks up, dtypes cast where the loader would refuse them, "
                    "Keras layers moved to the slots BASE reads. Values are copied bit for bit unless cast. "
                    "Prints the verdict of the written file against BASE.")
    remap.add_argument("target", metavar="TARGET", help="the checkpoint to rewrite (prefix, file, directory, URL with ://)")
    remap.add_argument("--to", dest="base", required=True, metavar="BASE",
                       help=f"what it must restore into: {cli_diff.SIDE_HELP}")
    remap.add_argument("-o", "--output", dest="out", required=True, metavar="OUT",
                       help="where to write it (a bundle prefix, or a file named like TARGET's format); "
                            "never one of TARGET's files")
    remap.add_argument("--mode", default="auto", choices=records.MODES,
                       help="how to pair variables (default: the real loader's rule for TARGET's format)")
    remap.add_argument("--drop-unexpected", action="store_true",
                       help="leave out the variables BASE does not ask for")
    remap.add_argument("--cast", default=plan.SAFE, choices=plan.CASTS,
                       help="casts to make where the loader refuses a dtype: safe (lose nothing, the default) or "
                            "lossy (also narrow, e.g. float32 to float16)")
    remap.add_argument("--overwrite", action="store_true", help="replace OUT if it exists")
    remap.add_argument("--json", action="store_true", help="print what was written and the new diff as JSON")
    cli_diff.add_architecture_option(remap)
    remap.set_defaults(run=_remap)


def _remap(args) -> int:
    from tensorboard_plugin_ckptdiff import api, remapping
    from tensorboard_plugin_ckptdiff.cli import diff as cli_diff

    base = api.as_base(cli_diff.side(args.base, args.architecture))
    target = api.as_target(cli_diff.side(args.target))
    result = remapping.remap((base, target), args.out, mode=args.mode, drop_unexpected=args.drop_unexpected,
                         cast=args.cast, overwrite=args.overwrite)
    if args.json:
        print(json.dumps(result.to_json(), indent=1))
    else:
        print(result.to_text())
    return EXIT_RESTORABLE if result.restorable else EXIT_LEFT
