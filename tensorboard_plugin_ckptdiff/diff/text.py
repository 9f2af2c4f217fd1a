"""Plain-text presentation of records for the CLI (the UI and JSON live elsewhere)."""

from __future__ import annotations

from tensorboard_plugin_ckptdiff import records


def shape_text(shape) -> str:
    """A shape as Python writes a tuple: ``(64,)``, ``(10, 64)``, ``()``; unknown dims as ``?``."""
    if shape is None:
        return "?"
    dims = ["?" if d is None else str(d) for d in shape]
    return "(" + ", ".join(dims) + ("," if len(dims) == 1 else "") + ")"


def _bytes(n) -> str:
    if n is None:
        return "?"
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


def checkpoint_text(checkpoint: records.Checkpoint) -> str:
    flavor = f" ({checkpoint.flavor})" if checkpoint.flavor else ""
    lines = [f"{checkpoint.path}: {checkpoint.format}{flavor}, {len(checkpoint.variables)} variables"]
    # A listing can hold tens of thousands of rows sharing a few shapes and sizes: format
    # each distinct one once, and each row with one %-format.
    shapes = {}
    sizes = {}
    rows = []
    for v in checkpoint.variables:
        shape = shapes.get(v.shape)
        if shape is None:
            shape = shapes[v.shape] = shape_text(v.shape)
        size = sizes.get(v.size_bytes)
        if size is None:
            size = sizes[v.size_bytes] = _bytes(v.size_bytes)
        rows.append((v.name, shape, v.dtype, v.kind, size, v.key))
    widths = [max([len(r[i]) for r in rows] + [0]) for i in range(5)]
    row_format = "  %%-%ds  %%-%ds  %%-%ds  %%-%ds  %%-%ds" % tuple(widths)
    for r in rows:
        line = row_format % r[:5]
        lines.append(line if r[5] == r[0] else f"{line}  [{r[5]}]")
    return "\n".join(lines)


def report_text(report) -> str:
    from tensorboard_plugin_ckptdiff.diff import text_report

    return text_report.render(report)
