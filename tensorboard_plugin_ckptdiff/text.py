"""Plain-text presentation of records for the CLI (the UI and JSON live elsewhere)."""

from __future__ import annotations

from tensorboard_plugin_ckptdiff import records


def _shape(shape) -> str:
    if shape is None:
        return "?"
    return "(" + ", ".join("?" if d is None else str(d) for d in shape) + ")"


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
    rows = [(v.name, _shape(v.shape), v.dtype, v.kind, _bytes(v.size_bytes), v.key) for v in checkpoint.variables]
    widths = [max([len(r[i]) for r in rows] + [0]) for i in range(5)]
    for r in rows:
        line = "  ".join(c.ljust(w) for c, w in zip(r, widths))
        lines.append(f"  {line}" + (f"  [{r[5]}]" if r[5] != r[0] else ""))
    return "\n".join(lines)


def report_text(report) -> str:
    from tensorboard_plugin_ckptdiff import text_report  # written with the diff

    return text_report.render(report)
