"""A TF2 checkpoint's object graph, edited so that ``tf.train.Checkpoint.restore`` walks to
renamed variables: the graph half of the remap writer for object-based bundles.

The restore matches the model's objects to the graph's nodes edge by edge, from the root, by
local name: a variable is found where the graph has it, whatever its key. So a rename is a
move of one edge. Where a whole scope moved (every variable under ``dense1`` is wanted under
``encoder``, and nothing under it is wanted where it is), the scope's own edge moves, keeping
its node and everything below; otherwise each variable's own edge moves. Moves are made all
at once (detached first, then attached), so a chain of renames cannot overwrite itself.
Dropped variables lose their value attribute, and objects left holding nothing are unlinked.

The graph is then renumbered in breadth-first order, ``has_checkpoint_values`` recomputed as
TF computes it, and every key whose object now has another shortest path from the root gets
the key TF would give it (``<path>/.ATTRIBUTES/VARIABLE_VALUE``; slot variables
``<variable path>/.OPTIMIZER_SLOT/<optimizer path>/<slot>/...``). Other keys stay as they were.
"""

from __future__ import annotations

import collections
from typing import Dict, Iterable, List, NamedTuple, Optional, Sequence, Set, Tuple

from tensorboard_plugin_ckptdiff.errors import CheckpointError

ATTRIBUTES = ".ATTRIBUTES"
OPTIMIZER_SLOT = ".OPTIMIZER_SLOT"
SERIALIZE_TO_TENSORS = ".TENSORS"


class RemapConflict(CheckpointError):
    """The edit asked for cannot be made in this graph (a place already taken)."""


class Rename(NamedTuple):
    key: str  # the variable's checkpoint key
    path: str  # where the model looks for it, '/'-separated escaped local names from ``start``


class Edited(NamedTuple):
    graph: bytes  # the serialized TrackableObjectGraph
    keys: Dict[str, str]  # old checkpoint key -> new one, for every key that changed
    moved: Tuple[str, ...]  # keys of the renamed variables the graph now leads to
    not_moved: Tuple[Tuple[str, str], ...]  # (key, why) for renames that could not be made


def escape(name: str) -> str:
    """TF's escape_local_name: a local name as one component of a path or key."""
    return name.replace(".", "..").replace("/", ".S")


def unescape(component: str) -> str:
    out = []
    i = 0
    while i < len(component):
        c = component[i]
        if c == "." and i + 1 < len(component) and component[i + 1] in ".S":
            out.append("." if component[i + 1] == "." else "/")
            i += 2
            continue
        out.append(c)
        i += 1
    return "".join(out)


def _proto():
    from tensorboard.compat.proto import trackable_object_graph_pb2

    return trackable_object_graph_pb2


def edit(raw: bytes, start: int, renames: Sequence[Rename], kept: Iterable[str] = (), drops: Iterable[str] = (),
         full_names: Optional[Dict[str, str]] = None) -> Edited:
    """The graph in ``raw`` with ``renames`` made (paths from node ``start``, the node the model
    maps to), the variables of ``drops`` removed, and the attributes in ``full_names`` (key ->
    full name: what a name-based restore looks up) renamed. ``kept``: keys of variables that
    are restored where they are, which no move may carry away."""
    graph = _proto().TrackableObjectGraph()
    try:
        graph.ParseFromString(raw)
    except Exception as e:  # the reader decoded it; protobuf's own parser refusing it is corruption
        raise CheckpointError(f"the object graph cannot be parsed: {e}") from e
    nodes = graph.nodes
    if not nodes or not 0 <= start < len(nodes):
        raise CheckpointError("the object graph has no node for the model")
    reachable_before = _reachable(nodes)
    old_names = _object_names(nodes)
    old_name_of_key = {a.checkpoint_key: old_names.get(i) for i, node in enumerate(nodes) for a in node.attributes}
    had_values = _holding_values(nodes)
    node_of = _nodes_by_key(nodes)
    moves, moved, not_moved = _moves(nodes, start, renames, {node_of[k] for k in kept if k in node_of}, node_of)
    _apply(graph, start, moves)
    drops = set(drops)
    for node in nodes:
        kept_attributes = [a for a in node.attributes if a.checkpoint_key not in drops]
        if len(kept_attributes) != len(node.attributes):
            del node.attributes[:]
            node.attributes.extend(kept_attributes)
        for attribute in node.attributes:
            if full_names and attribute.checkpoint_key in full_names:
                attribute.full_name = full_names[attribute.checkpoint_key]
    _unlink_emptied(nodes, had_values)
    graph = _renumbered(graph, reachable_before)
    _mark_values(graph.nodes)
    keys = _new_keys(graph.nodes, old_name_of_key)
    return Edited(graph.SerializeToString(), keys, tuple(moved), tuple(not_moved))


# ---------------------------------------------------------------- where things are


def _nodes_by_key(nodes) -> Dict[str, int]:
    return {a.checkpoint_key: i for i, node in enumerate(nodes) for a in node.attributes}


def _shortest_paths(nodes, start: int = 0) -> Dict[int, Tuple[str, ...]]:
    """node -> the local names of its shortest path from ``start`` (breadth first, children
    in order: the traversal TF names keys by)."""
    paths = {start: ()}
    queue = collections.deque([start])
    while queue:
        node_id = queue.popleft()
        prefix = paths[node_id]
        for child in nodes[node_id].children:
            if child.node_id not in paths and 0 <= child.node_id < len(nodes):
                paths[child.node_id] = prefix + (child.local_name,)
                queue.append(child.node_id)
    return paths


def _walk(nodes, start: int, names: Sequence[str]) -> Optional[int]:
    node = start
    for name in names:
        node = next((c.node_id for c in nodes[node].children if c.local_name == name), None)
        if node is None:
            return None
    return node


def _variables_under(nodes, top: int) -> Set[int]:
    """Nodes holding values reachable from ``top`` through children (``top`` included)."""
    seen = {top}
    stack = [top]
    found = set()
    while stack:
        node_id = stack.pop()
        if nodes[node_id].attributes:
            found.add(node_id)
        for child in nodes[node_id].children:
            if child.node_id not in seen and 0 <= child.node_id < len(nodes):
                seen.add(child.node_id)
                stack.append(child.node_id)
    return found


# ---------------------------------------------------------------- moves


class _Move(NamedTuple):
    node: int  # what moves, with everything below it
    parent: Tuple[str, ...]  # the path (from start) of the node it hangs from now
    name: str  # the local name of that edge
    to: Tuple[str, ...]  # the path it will be found at


def _moves(nodes, start, renames, kept: Set[int], node_of):
    within = _shortest_paths(nodes, start)
    wanted: Dict[int, Tuple[Tuple[str, ...], Tuple[str, ...]]] = {}  # node -> (path now, path wanted)
    not_moved = []
    for key, path in renames:
        node = node_of.get(key)
        if node is None or node not in within:
            not_moved.append((key, "the object graph does not reach it from the model's node"))
            continue
        to = tuple(unescape(c) for c in path.split("/") if c)
        if not to:
            not_moved.append((key, "the model's path for it is empty"))
            continue
        wanted[node] = (within[node], to)
    moves: Dict[int, _Move] = {}
    for node, (now, to) in wanted.items():
        move = _widest_move(nodes, start, node, now, to, wanted, kept)
        moves.setdefault(move.node, move)
    by_place = collections.Counter(m.to for m in moves.values())
    for move in moves.values():
        if by_place[move.to] > 1:
            raise RemapConflict(f"two objects would both be moved to {'/'.join(move.to)!r}")
    moved = [key for key, _ in renames if node_of.get(key) in wanted]
    return list(moves.values()), moved, not_moved


def _widest_move(nodes, start, node, now, to, wanted, kept) -> _Move:
    """The highest object on the variable's path that can move as a whole: the renamed
    variable's scope when everything in it goes to the same new scope, else the variable."""
    suffix = 0
    while suffix < min(len(now), len(to)) - 1 and now[-1 - suffix] == to[-1 - suffix]:
        suffix += 1
    for k in range(suffix, 0, -1):
        top = _walk(nodes, start, now[:len(now) - k])
        if top is not None and _moves_together(nodes, top, now[:len(now) - k], to[:len(to) - k], wanted, kept):
            return _Move(top, now[:len(now) - k - 1], now[len(now) - k - 1], to[:len(to) - k])
    return _Move(node, now[:-1], now[-1], to)


def _moves_together(nodes, top, old_scope, new_scope, wanted, kept) -> bool:
    for v in _variables_under(nodes, top):
        if v in kept:
            return False  # restored where it is: the scope must stay
        if v in wanted:
            now, to = wanted[v]
            if now[:len(old_scope)] != old_scope or to != new_scope + now[len(old_scope):]:
                return False  # wanted somewhere else than the scope's new place
    return True


def _apply(graph, start: int, moves: List[_Move]) -> None:
    nodes = graph.nodes
    parents = [_walk(nodes, start, move.parent) for move in moves]  # found before anything changes
    for move, parent in zip(moves, parents):  # every detach before any attach: a chain of renames is one step
        edges = nodes[parent].children
        at = next((i for i, c in enumerate(edges) if c.local_name == move.name and c.node_id == move.node), None)
        if at is None:
            raise RemapConflict(f"the object graph changed under the edit at {'/'.join(move.parent + (move.name,))!r}")
        del edges[at]
    for move in sorted(moves, key=lambda m: len(m.to)):  # a scope before what goes inside it
        node = start
        for name in move.to[:-1]:
            found = next((c.node_id for c in nodes[node].children if c.local_name == name), None)
            if found is None:
                nodes.add()  # a new object with nothing of its own: a scope the model has
                found = len(nodes) - 1
                nodes[node].children.add(node_id=found, local_name=name)
            node = found
        if any(c.local_name == move.to[-1] for c in nodes[node].children):
            raise RemapConflict(f"the checkpoint already holds another object at {'/'.join(move.to)!r}")
        nodes[node].children.add(node_id=move.node, local_name=move.to[-1])


# ---------------------------------------------------------------- values, numbering, keys


def _holding_values(nodes) -> Set[int]:
    """Nodes that hold values or lead to some: TF's add_checkpoint_values_check."""
    parents = collections.defaultdict(set)
    holding = set()
    for node_id, node in enumerate(nodes):
        if node.attributes or node.slot_variables or node.HasField("registered_saver"):
            holding.add(node_id)
        for child in node.children:
            parents[child.node_id].add(node_id)
    stack = list(holding)
    while stack:
        for parent in parents.pop(stack.pop(), ()):
            if parent not in holding:
                holding.add(parent)
                stack.append(parent)
    return holding


def _unlink_emptied(nodes, had_values: Set[int]) -> None:
    """Drop the edges to objects that held values before and hold none now."""
    before = had_values
    while True:
        now = _holding_values(nodes)
        emptied = {n for n in range(len(nodes)) if n in before and n not in now and n != 0}
        changed = False
        for node in nodes:
            edges = [c for c in node.children if c.node_id not in emptied]
            if len(edges) != len(node.children):
                del node.children[:]
                node.children.extend(edges)
                changed = True
            slots = [s for s in node.slot_variables
                     if s.slot_variable_node_id not in emptied and s.original_variable_node_id not in emptied]
            if len(slots) != len(node.slot_variables):
                del node.slot_variables[:]
                node.slot_variables.extend(slots)
                changed = True
        if not changed:
            return
        before = now


def _reachable(nodes) -> List[int]:
    """Nodes reached from the root through children and slot variable references, breadth
    first (slot variables right after the optimizer holding them)."""
    order = [0]
    seen = {0}
    queue = collections.deque([0])
    while queue:
        node = nodes[queue.popleft()]
        targets = [c.node_id for c in node.children]
        targets += [i for s in node.slot_variables for i in (s.original_variable_node_id, s.slot_variable_node_id)]
        for target in targets:
            if target not in seen and 0 <= target < len(nodes):
                seen.add(target)
                order.append(target)
                queue.append(target)
    return order


def _renumbered(graph, reachable_before):
    """The graph with its nodes in breadth-first order from the root (slot variables after the
    object holding them); nodes no longer reachable are left out, unless they never were."""
    nodes = graph.nodes
    order = _reachable(nodes)
    seen, before = set(order), set(reachable_before)
    order += [n for n in range(len(nodes)) if n not in seen and n not in before]
    if order == list(range(len(nodes))):
        return graph
    number = {old: new for new, old in enumerate(order)}
    out = _proto().TrackableObjectGraph()
    for old in order:
        node = out.nodes.add()
        node.CopyFrom(nodes[old])
        for child in node.children:
            child.node_id = number[child.node_id]
        kept = [s for s in node.slot_variables
                if s.original_variable_node_id in number and s.slot_variable_node_id in number]
        del node.slot_variables[:]
        for s in kept:
            node.slot_variables.add(original_variable_node_id=number[s.original_variable_node_id],
                                    slot_name=s.slot_name, slot_variable_node_id=number[s.slot_variable_node_id])
    return out


def _mark_values(nodes) -> None:
    if not any(node.HasField("has_checkpoint_values") for node in nodes):
        return  # a writer older than the field: leave it unset, as it was
    holding = _holding_values(nodes)
    for node_id, node in enumerate(nodes):
        node.has_checkpoint_values.value = node_id in holding


def _object_name(path: Tuple[str, ...]) -> str:
    return "/".join(escape(p) for p in path)


def _key(object_name: str, attribute: str) -> str:
    suffix = "" if attribute == SERIALIZE_TO_TENSORS else escape(attribute)
    return f"{object_name}/{ATTRIBUTES}/{suffix}"


def _object_names(nodes) -> Dict[int, str]:
    """node -> the object name TF builds its keys from: its shortest path from the root, or for
    a slot variable ``<variable path>/.OPTIMIZER_SLOT/<optimizer path>/<slot name>``."""
    paths = _shortest_paths(nodes)
    names = {node: _object_name(path) for node, path in paths.items()}
    for optimizer_id, node in enumerate(nodes):
        for s in node.slot_variables:
            if s.original_variable_node_id in paths and optimizer_id in paths:
                names[s.slot_variable_node_id] = (
                    f"{names[s.original_variable_node_id]}/{OPTIMIZER_SLOT}/{names[optimizer_id]}/"
                    f"{escape(s.slot_name)}")
    return names


def _new_keys(nodes, old_name_of_key) -> Dict[str, str]:
    """Give every attribute whose object is named otherwise now the key TF would give it."""
    names = _object_names(nodes)
    changed: Dict[str, str] = {}
    for node_id, node in enumerate(nodes):
        name = names.get(node_id)
        for attribute in node.attributes:
            old = attribute.checkpoint_key
            if name is None or old_name_of_key.get(old) == name:
                continue  # the same object under the same name: its key stays
            new = _key(name, attribute.name)
            if new != old:
                changed[old] = new
                attribute.checkpoint_key = new
    return changed
