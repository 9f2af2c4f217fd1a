"""``ckptdiff drift A B``: how far the values moved between two checkpoints."""

from __future__ import annotations

import json
import sys

from tensorboard_plugin_ckptdiff import records

EXIT_OK = 0


def register(subparsers) -> None:
    drift = subparsers.add_parser("drift", help="value drift between two checkpoints (per variable and per layer)")
    drift.add_argument("base", help="the earlier checkpoint (any format: prefix, file, directory)")
    drift.add_argument("target", help="the later checkpoint")
    drift.add_argument("--json", action="store_true", help="print the same JSON as the HTTP route")
    drift.add_argument("--top", type=int, default=20, metavar="N",
                       help="show the N variables that moved most (default 20; 0 for all)")
    drift.add_argument("--kinds", default=records.WEIGHT,
                       help="comma-separated kinds to compare: weight, optimizer, metadata (default weight)")
    drift.add_argument("--mode", default="auto", choices=records.MODES, help="how to pair variables (default: the real loader's rule)")
    drift.set_defaults(run=_drift)


def _drift(args) -> int:
    from tensorboard_plugin_ckptdiff.values import drift as value_drift
    from tensorboard_plugin_ckptdiff.errors import InvalidArgument

    kinds = records.parse_kinds(args.kinds)
    if args.top < 0:
        raise InvalidArgument(f"--top must be 0 or more, got {args.top}")
    progress = _progress if sys.stderr.isatty() and not args.json else None
    result = value_drift.drift(args.base, args.target, mode=args.mode, kinds=kinds, progress=progress)
    if progress is not None:
        print(file=sys.stderr)
    if args.json:
        print(json.dumps(result.to_json(), indent=1))
    else:
        print(render(result, args.top))
    return EXIT_OK


def _progress(fraction: float) -> None:
    print(f"\rreading values: {fraction:6.1%}", end="", file=sys.stderr, flush=True)


def render(result, top: int) -> str:
    """The drift as text: the variables that moved most, the layers, the skipped pairs."""
    entries = result.top(top or len(result.entries))
    lines = [f"{len(result.entries)} variables compared, {len(result.skipped)} skipped"
             + (f" (paired by {result.mode})" if result.mode else "")]
    if entries:
        width = max(len(e.name) for e in entries)
        lines.append("")
        lines.append(f"{'variable':<{width}}  {'relative':>10}  {'l2':>10}  {'max |Δ|':>10}  {'cosine':>8}")
        for e in entries:
            lines.append(f"{e.name:<{width}}  {_fmt(e.relative):>10}  {_fmt(e.l2):>10}  {_fmt(e.max_abs):>10}  "
                         f"{_fmt(e.cosine, '.5f'):>8}")
    if result.layers:
        width = max(len(layer.layer) for layer in result.layers)
        lines.append("")
        lines.append(f"{'layer':<{width}}  {'relative':>10}")
        for layer in result.layers:
            lines.append(f"{layer.layer:<{width}}  {_fmt(layer.relative):>10}")
    if result.skipped:
        lines.append("")
        lines.append("skipped:")
        for s in result.skipped:
            lines.append(f"  {s.name}: {s.reason}" + (f" ({s.detail})" if s.detail else ""))
    return "\n".join(lines)


def _fmt(x, spec: str = ".4g") -> str:
    return "n/a" if x is None else format(x, spec)
