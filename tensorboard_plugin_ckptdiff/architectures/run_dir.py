"""The architectures of one TensorBoard run directory, read outside TensorBoard: what the tab
diffs against, for the command line (``ckptdiff remap TARGET --to RUN_DIR``, the command the
tab's fix panel shows). The event files are loaded with TensorBoard's own multiplexer and read
through its data provider, the same sources in the same order as the plugin reads them.
"""

from __future__ import annotations

import os
from typing import List, Optional

from tensorboard_plugin_ckptdiff import records
from tensorboard_plugin_ckptdiff.errors import InvalidArgument

_RUN = "."


def is_run(path: str) -> bool:
    """A local directory holding TensorBoard event files."""
    try:
        return os.path.isdir(path) and any("tfevents" in name for name in os.listdir(path))
    except OSError:
        return False


def architectures(path: str) -> List[records.Architecture]:
    """Every architecture the run's event files hold, oldest first."""
    from tensorboard import context
    from tensorboard.backend.event_processing import data_provider, plugin_event_multiplexer

    from tensorboard_plugin_ckptdiff.architectures import events

    multiplexer = plugin_event_multiplexer.EventMultiplexer(max_reload_threads=1)
    multiplexer.AddRun(path, name=_RUN)
    multiplexer.Reload()
    provider = data_provider.MultiplexerDataProvider(multiplexer, path)
    return events.read_architectures(provider, context.RequestContext(), "").get(_RUN, [])


def choose(path: str, which: Optional[str] = None) -> records.Architecture:
    """The run's newest readable architecture, or the one ``which`` names (``SOURCE/STEP`` as the
    tab shows it: ``graph/0``, ``model_spec/3``)."""
    found = architectures(path)
    if which:
        wanted = [a for a in found if f"{a.source}/{a.step}" == which or a.id == f"{_RUN}/{which}"]
        if not wanted:
            have = ", ".join(f"{a.source}/{a.step}" for a in found) or "none"
            raise InvalidArgument(f"the run {path!r} has no architecture {which!r} (it has: {have})")
        chosen = wanted[-1]
    else:
        readable = [a for a in found if a.status == records.OK]
        if not readable:
            why = f": {found[-1].error}" if found else " (no model_spec, Keras config or graph summary)"
            raise InvalidArgument(f"the run {path!r} holds no readable architecture{why}")
        chosen = readable[-1]
    if chosen.status != records.OK:
        raise InvalidArgument(f"the architecture {which!r} of {path!r} cannot be read: {chosen.error}")
    return chosen
