"""The vocabulary every layer speaks: variables, checkpoints, architectures, diff reports.

Records are frozen dataclasses. Readers and the diff produce them; the plugin, the CLI and
the Python API turn them into JSON or text at the edge (``to_json()`` below is that edge for
the fields API.md promises). Fields past the API's are matching keys the diff needs: each
loader looks a variable up by something different (object path, name, Keras layer slot).
"""

from __future__ import annotations

import collections
import copyreg
import dataclasses
import functools
import marshal
import operator
import re
from itertools import chain, repeat
from typing import Dict, List, Optional, Sequence, Tuple

from tensorboard_plugin_ckptdiff.errors import InvalidArgument

# Statuses and kinds in the user's words; the same strings appear in the API and the UI.
MATCH = "match"
MISSING = "missing"
UNEXPECTED = "unexpected"
SHAPE_MISMATCH = "shape_mismatch"
DTYPE_MISMATCH = "dtype_mismatch"
RENAMED = "renamed"
STATUSES = (MATCH, MISSING, UNEXPECTED, SHAPE_MISMATCH, DTYPE_MISMATCH, RENAMED)

WEIGHT = "weight"
OPTIMIZER = "optimizer"
METADATA = "metadata"
KINDS = (WEIGHT, OPTIMIZER, METADATA)

# What decides a kind, for every source that knows a variable by its name (bundles, TF1 graphs,
# live models, h5 files): tests/test_kinds.py feeds the same variables through each of them.
# Counters that say how far training got, not what the model learned.
COUNTERS = frozenset({"save_counter", "global_step", "step", "iterations", "_iterations", "iter", "iteration"})
# TF1 optimizers' slot names (Saver keys like dense/kernel/Adam_1) and their accumulators.
_SLOT = re.compile(r"^(Adam|AdamW|Momentum|RMSProp|Adagrad|AdagradDA|Adadelta|Ftrl|Nadam|Adamax|"
                   r"ExponentialMovingAverage|LazyAdam|ProximalAdagrad)(_\d+)?$")
_ACCUMULATOR = re.compile(r"^(beta1_power|beta2_power)(_\d+)?$")
# A bundle's key holding the object graph: structure, never a variable of the model.
OBJECT_GRAPH_KEY = "_CHECKPOINTABLE_OBJECT_GRAPH"


def strip_output_suffix(name: str) -> str:
    """A variable's name without the ":0" of its first output (TF1 names, Keras 2 weights)."""
    return name[:-2] if name.endswith(":0") else name


def kind_of(name: str) -> str:
    """weight / optimizer / metadata of a variable by its TF1-style name (``dense/kernel``,
    ``dense/kernel/Adam_1``, ``global_step``, ``beta1_power``); ":0" may be left on."""
    parts = strip_output_suffix(name).split("/")
    last = parts[-1]
    if last in COUNTERS or name == OBJECT_GRAPH_KEY:
        return METADATA
    if len(parts) > 1 and _SLOT.match(last) or _ACCUMULATOR.match(last):
        return OPTIMIZER
    return WEIGHT


def parse_kinds(kinds) -> Optional[Tuple[str, ...]]:
    """``kinds`` as given to an API, a route or the CLI ("weight,optimizer", a list, or None
    for all) as a tuple of known kinds; raises InvalidArgument for anything else."""
    if kinds is None:
        return None
    if isinstance(kinds, str):
        kinds = [k.strip() for k in kinds.split(",") if k.strip()]
    kinds = tuple(kinds)
    unknown = [k for k in kinds if k not in KINDS]
    if unknown or not kinds:
        raise InvalidArgument(f"kinds is a subset of {', '.join(KINDS)}; got {', '.join(kinds) or 'nothing'}")
    return kinds


# Checkpoint formats (API.md) and the two flavors of bundles.
TF_BUNDLE = "tf_bundle"
KERAS_WEIGHTS_H5 = "keras_weights_h5"
KERAS_LEGACY_H5 = "keras_legacy_h5"
KERAS_ARCHIVE = "keras_archive"
SAVED_MODEL = "saved_model"
SAFETENSORS = "safetensors"
FORMATS = (TF_BUNDLE, KERAS_WEIGHTS_H5, KERAS_LEGACY_H5, KERAS_ARCHIVE, SAVED_MODEL, SAFETENSORS)

OBJECT_BASED = "object_based"
NAME_BASED = "name_based"

# The modes the diff pairs by (diff/pairing.py implements them; the dashboard and the CLI list
# them from here) and the loader behind each: keras_order is two loaders with different rules.
AUTO = "auto"
NAME = "name"
OBJECT_PATH = "object_path"
KERAS_ORDER = "keras_order"
TRANSFORMERS = "transformers"
STRUCTURE = "structure"
MODES = (AUTO, NAME, OBJECT_PATH, KERAS_ORDER, TRANSFORMERS, STRUCTURE)

TF2_CHECKPOINT = "tf2_checkpoint"
TF1_SAVER = "tf1_saver"
KERAS3 = "keras3"
KERAS_LEGACY = "keras_legacy"
TRANSFORMERS_H5 = "transformers_h5"  # from_pretrained on tf_model.h5: load_tf_weights_from_h5
TRANSFORMERS_SAFETENSORS = "transformers_safetensors"  # load_tf_weights_from_safetensors
STRUCTURE_ONLY = "structure"  # no loader: two files of one model compared layer by layer

OK = "ok"
INCOMPLETE = "incomplete"
ERROR = "error"
# Listed, not read yet: a checkpoint is "ok" only once its metadata has been read and checked.
PENDING = "pending"

Shape = Optional[Tuple[Optional[int], ...]]


def shape_text(shape: Shape) -> str:
    """A shape as Python writes a tuple: ``(64,)``, ``(10, 64)``, ``()``; unknown dims as ``?``.
    Verdicts and details say shapes this way, so it belongs to the vocabulary, not to text.py."""
    if shape is None:
        return "?"
    dims = ["?" if d is None else str(d) for d in shape]
    return "(" + ", ".join(dims) + ("," if len(dims) == 1 else "") + ")"


@dataclasses.dataclass(frozen=True)
class Variable:
    """One variable, as stored in a checkpoint or as expected by a model."""

    key: str  # exact key in the file / in the model
    name: str  # the most readable name known
    shape: Shape
    dtype: str  # numpy-style: float32, bfloat16, int64, string, bool, ...
    size_bytes: Optional[int] = None
    kind: str = WEIGHT
    layer: Optional[str] = None
    # --- matching keys (not part of the API's Variable, but exported as extra fields) ---
    # name mode: the TF1-style variable name ("dense/kernel"), ":0" stripped. Object-based
    # bundles fill it from the object graph's full_name; Keras files from the variable path.
    full_name: Optional[str] = None
    # object_path mode: the node path without "/.ATTRIBUTES/VARIABLE_VALUE". For a checkpoint
    # it is the path from the checkpoint's root; for an architecture, from the model's root.
    object_path: Optional[str] = None
    # keras_order mode: the layer slot the Keras loader looks in. Keras 3: the h5 layer path
    # ("layers/dense_1"); legacy h5: the layer name. ``index`` is the weight's index in that
    # layer, ``layer_index`` the layer's position among the weighted layers (legacy order).
    layer_path: Optional[str] = None
    index: Optional[int] = None
    layer_index: Optional[int] = None
    # A TF1 graph's variable, whole (not partitioned): True for a resource variable
    # (VarHandleOp), False for a ref variable (VariableV2). The Saver assigns a resource
    # variable whatever shape the checkpoint holds, without an error; a ref variable, or a
    # partitioned one's slices, it refuses. None: not known, or not a TF1 graph's.
    resource: Optional[bool] = None

    def to_json(self) -> dict:
        return {
            "key": self.key,
            "name": self.name,
            "shape": None if self.shape is None else list(self.shape),
            "dtype": self.dtype,
            "size_bytes": self.size_bytes,
            "kind": self.kind,
            "layer": self.layer,
        }


@dataclasses.dataclass(frozen=True, slots=True)
class ObjectNode:
    """One node of a TF2 object graph (TrackableObjectGraph), kept so object-path matching
    can walk the graph along a model's own structure rather than compare key strings.

    Slotted: a graph has a node per variable, and a node with a __dict__ is two objects the
    garbage collector tracks and walks (the dict holding fresh tuples is tracked) where a
    slotted one is one; a read of 20,000 variables beside TensorFlow then triggers fewer full
    collections (issue 14). Readers build them with ``object_nodes`` below."""

    children: Tuple[Tuple[str, int], ...] = ()  # (local_name, node_id)
    # (attribute name, checkpoint key, full_name); a variable node has VARIABLE_VALUE.
    attributes: Tuple[Tuple[str, str, str], ...] = ()
    # (original_variable_node_id, slot_name, slot_variable_node_id)
    slot_variables: Tuple[Tuple[int, str, int], ...] = ()


@dataclasses.dataclass(frozen=True)
class ObjectGraph:
    nodes: Tuple[ObjectNode, ...]  # node 0 is the root

    @functools.cached_property
    def _children_by_name(self) -> Tuple[Dict[str, int], ...]:
        # A list-like node (a Keras layer list, a Module's list of variables) can have tens of
        # thousands of children: scanning them per lookup made object-path pairing quadratic.
        # Built on first use, outside the dataclass fields (equality and hash ignore it).
        out = []
        for node in self.nodes:
            index: Dict[str, int] = {}
            for local_name, child_id in node.children:
                index.setdefault(local_name, child_id)  # the first edge of a name, as TF resolves it
            out.append(index)
        return tuple(out)

    def child(self, node_id: int, name: str) -> Optional[int]:
        return self._children_by_name[node_id].get(name)

    def walk(self, path: str, start: int = 0) -> Optional[int]:
        """Node reached from ``start`` along a '/'-separated path, or None."""
        node = start
        for part in path.split("/") if path else ():
            found = self.child(node, part)
            if found is None:
                return None
            node = found
        return node

    def walks_from(self, start: int = 0) -> Dict[str, int]:
        """path -> the node ``walk(path, start)`` reaches, for the first path to each node found
        breadth first along the edges walk() follows (the first edge of each name). A path
        missing here may still walk (a node reached a second way): ask walk() then.

        Pairing looks up every variable's path: one dict lookup rather than a walk each.
        tests/test_records.py::test_walks_from_agrees_with_walk holds it to walk()."""
        cached = self._walks.get(start)
        if cached is None:
            nodes, count = self.nodes, len(self.nodes)
            cached = {"": start}
            seen, queue = {start}, [(start, "")]
            for node, prefix in queue:
                for name, child in nodes[node].children:
                    path = f"{prefix}/{name}" if prefix else name
                    # A path already held is a later edge of the same name (walk() takes the
                    # first); walk() splits a path at "/", so a name empty or holding one is
                    # left to it. Each node is entered once, and one past the end never.
                    if path in cached or not name or "/" in name:
                        continue
                    cached[path] = child
                    # A leaf (most nodes: the variables) has nothing to walk: never queued.
                    if 0 <= child < count and nodes[child].children and child not in seen:
                        seen.add(child)
                        queue.append((child, path))
            self._walks[start] = cached
        return cached

    @functools.cached_property
    def _walks(self) -> Dict[int, Dict[str, int]]:
        return {}  # start node -> walks_from(start), filled on first use

    def value_key(self, node_id: int) -> Optional[str]:
        return self.value_keys.get(node_id)

    def __reduce__(self):
        # To a reader process and back: the nodes' fields in marshal's format (a graph has a
        # node per variable), the indexes built from them left behind.
        rows = [(n.children, n.attributes, n.slot_variables) for n in self.nodes]
        leaves = chain.from_iterable(chain.from_iterable(chain.from_iterable(rows)))  # names and ids
        if not _IN_GRAPHS.issuperset(map(type, leaves)):  # not what the decoder makes: pickled as it is
            return copyreg.__newobj__, (ObjectGraph,), {"nodes": self.nodes}
        return _graph_unpacked, (marshal.dumps(rows),)

    @functools.cached_property
    def value_keys(self) -> Dict[int, str]:
        """node -> the checkpoint key of its value (its first VARIABLE_VALUE attribute), for
        the nodes that hold one: pairing asks it of every variable's node."""
        out: Dict[int, str] = {}
        for node_id, node in enumerate(self.nodes):
            for name, checkpoint_key, _ in node.attributes:
                if name == "VARIABLE_VALUE":
                    out.setdefault(node_id, checkpoint_key)
        return out


@dataclasses.dataclass(frozen=True)
class Checkpoint:
    """One checkpoint: where it is, what format, and (once read) its variables."""

    id: str
    path: str  # relative to the logdir, '/'-separated (or the path the user gave)
    format: Optional[str]
    run: Optional[str] = None
    flavor: Optional[str] = None  # object_based | name_based for bundles and SavedModels
    step: Optional[int] = None
    wall_time: Optional[float] = None
    size_bytes: Optional[int] = None
    status: str = OK
    error: Optional[str] = None
    variables: Tuple[Variable, ...] = ()
    object_graph: Optional[ObjectGraph] = None
    # Some checkpoints carry the model that wrote them (.keras config, .meta graph,
    # SavedModel object graph); readers that can, put it here.
    architecture: Optional["Architecture"] = None
    # The library whose loader reads this file when it is not the format's own: "transformers"
    # for a tf_model.h5 / TF safetensors written by save_pretrained (from_pretrained loads it).
    writer: Optional[str] = None
    # Where the file is, for code a person pastes (fix snippets): absolute for local files, the
    # URL for remote ones. ``path`` stays what the API names (relative to the logdir, or as given).
    location: Optional[str] = None

    def __reduce__(self):
        return _reduced_with_variables(self)

    def to_json(self) -> dict:
        return {
            "id": self.id,
            "run": self.run,
            "path": self.path,
            "format": self.format,
            "flavor": self.flavor,
            "step": self.step,
            "wall_time": self.wall_time,
            "size_bytes": self.size_bytes,
            "status": self.status,
            "error": self.error,
            "writer": self.writer,
        }


@dataclasses.dataclass(frozen=True)
class Architecture:
    """The variables a model expects, with the key each loader would look up."""

    id: str
    source: str  # model_spec | keras_config | graph | meta_graph | keras_archive | saved_model | live_model
    run: Optional[str] = None
    step: Optional[int] = None
    wall_time: Optional[float] = None
    status: str = OK
    error: Optional[str] = None
    variables: Tuple[Variable, ...] = ()
    # Which family of model this is: "keras3", "tf_keras", "tf_module", "tf1_graph", or
    # "transformers" (a TFPreTrainedModel: tf-keras underneath, loaded by from_pretrained).
    framework: Optional[str] = None

    def __reduce__(self):
        return _reduced_with_variables(self)

    def to_json(self) -> dict:
        return {
            "id": self.id,
            "run": self.run,
            "source": self.source,
            "step": self.step,
            "wall_time": self.wall_time,
            "status": self.status,
            "error": self.error,
        }


# A checkpoint or architecture read in a reader process comes back by pickle, and a diff goes
# to one to plan a remap: with 100k variables, pickle's way (a class reference and a state dict
# rebuilt key by key, per variable) took 0.6 s to load. Their variables' field dicts travel in
# marshal's format instead (both ends run the same interpreter; only strings, numbers, None
# and tuples are in them), an object graph's nodes likewise. Anything marshal cannot hold goes
# pickle's way. tests/test_records.py holds the round trip equal.


def variables_packed(variables: Sequence[Variable]) -> Optional[bytes]:
    """The variables' field dicts in marshal's format; None where a value is not one marshal
    gives back as it was (it writes any buffer, a numpy integer too, as bytes)."""
    rows = list(map(vars, variables))
    # Exact types (a subclass is not one), by C loops over every value; a tuple is a shape, the
    # one field of that type, and holds dimensions.
    if not _MARSHALLED.issuperset(map(type, chain.from_iterable(map(dict.values, rows)))):
        return None
    if not _IN_SHAPES.issuperset(map(type, chain.from_iterable(filter(None, map(_shape_of, rows))))):
        return None
    return marshal.dumps(rows)


_shape_of = operator.itemgetter("shape")
_MARSHALLED = frozenset((str, int, float, bool, type(None), tuple))
_IN_SHAPES = frozenset((int, type(None)))
_IN_GRAPHS = frozenset((str, int))


def variables_unpacked(packed: bytes) -> Tuple[Variable, ...]:
    """``variables_packed``'s variables again: equal, each with its own field dict (as they
    were: their rows need no check)."""
    return _with_dicts(Variable, marshal.loads(packed))


def _reduced_with_variables(record) -> tuple:
    state = dict(record.__dict__)
    packed = variables_packed(state["variables"])
    if packed is None:
        return copyreg.__newobj__, (type(record),), state
    del state["variables"]
    return _with_variables, (type(record), state, packed)


def _with_variables(cls, state: dict, packed: bytes):
    record = object.__new__(cls)
    state["variables"] = variables_unpacked(packed)
    object.__setattr__(record, "__dict__", state)
    return record


def _graph_unpacked(packed: bytes) -> ObjectGraph:
    graph = object.__new__(ObjectGraph)
    object.__setattr__(graph, "__dict__", {"nodes": object_nodes(marshal.loads(packed))})
    return graph


@dataclasses.dataclass(frozen=True, slots=True)
class Entry:
    """One row of a diff: a pair of variables, or one side alone, with its status.

    Slotted: a diff can have 100k rows, and a row without a __dict__ is one object for the
    garbage collector to walk rather than two, and is made faster."""

    status: str
    base: Optional[Variable]
    target: Optional[Variable]
    cast: Optional[str] = None  # dtype_mismatch only: safe | lossy | incompatible
    confidence: Optional[float] = None  # renamed only
    detail: str = ""
    # Whether the base variable holds the saved value after the effective loader runs: a
    # ``match`` can still be left alone (Keras loads a layer's variables in order and stops at
    # the first that fails; a loader that stops part-way restores nothing after that point).
    restored: bool = False

    @property
    def kind(self) -> str:
        side = self.base or self.target
        return side.kind if side is not None else WEIGHT

    def to_json(self) -> dict:
        return {
            "status": self.status,
            "base": self.base.to_json() if self.base else None,
            "target": self.target.to_json() if self.target else None,
            "cast": self.cast,
            "confidence": self.confidence,
            "detail": self.detail,
            "restored": self.restored,
        }


# Entry's slots, each set through its own descriptor: the generated __init__ of a frozen class
# goes through object.__setattr__ once per field, twice the cost, and a diff makes an Entry per
# row (100k rows). Unpacking fails at import if a field is added or removed; the fields' order is
# the generated __init__'s. tests/test_records.py::test_entry_row_makes_the_same_entry_as_the_class
# holds entry_row(...) and mark_restored's entries equal to Entry(...), frozen, and hashing the same.
_new = object.__new__  # an instance without running the generated __init__


def _slot_setters(cls) -> tuple:
    """The setters of a slotted dataclass's fields, in field order (its __init__'s)."""
    return tuple(cls.__dict__[f.name].__set__ for f in dataclasses.fields(cls))


_ENTRY_SETTERS = _slot_setters(Entry)
(_status_of, _base_of, _target_of, _cast_of, _confidence_of, _detail_of, _restored_of) = _ENTRY_SETTERS


def entry_row(status, base, target, cast, confidence, detail, restored) -> Entry:
    """``Entry(status, base, target, cast, confidence, detail, restored)``, made faster: every
    field is passed, by position, as the diff's rows are built."""
    e = _new(Entry)
    _status_of(e, status)
    _base_of(e, base)
    _target_of(e, target)
    _cast_of(e, cast)
    _confidence_of(e, confidence)
    _detail_of(e, detail)
    _restored_of(e, restored)
    return e


def entry_columns(count: int, status, base, target, cast, confidence, detail, restored) -> List[Entry]:
    """``count`` Entries made field by field: each argument is an iterable of at least
    ``count`` values, in Entry's field order (``itertools.repeat(value)`` for one value on
    every row). The same rows as ``entry_row`` would make one at a time, made by loops that
    run in C (a diff's 100k plain matches: ~50 ms against ~75 ms). Tested with entry_row."""
    rows = list(map(_new, repeat(Entry, count)))
    for setter, values in zip(_ENTRY_SETTERS, (status, base, target, cast, confidence, detail, restored)):
        collections.deque(map(setter, rows, values), 0)  # consumed at C speed, nothing kept
    return rows


def mark_restored(entries: List[Entry], flags: Sequence[bool]) -> None:
    """Set each new entry's ``restored`` to its flag, in place.

    Only for entries made a moment ago that nobody has hashed or handed out yet: the diff learns
    the flags after its rows exist (the verdict reads the rows), and copying 100k frozen rows
    again to change one field costs five times as much. The same test as entry_row holds the
    result equal to Entry(..., restored=flag)."""
    collections.deque(map(_restored_of, entries, flags), 0)


@dataclasses.dataclass(frozen=True)
class Snippet:
    title: str
    code: str
    language: str = "python"
    # Keys of the base variables this code leaves holding saved values (what it promises;
    # the tests run the code and check exactly this set). None: not a restore.
    restores: Optional[Tuple[str, ...]] = None

    def to_json(self) -> dict:
        out = {"title": self.title, "language": self.language, "code": self.code}
        if self.restores is not None:
            out["restores"] = len(self.restores)
        return out


@dataclasses.dataclass(frozen=True)
class Fix:
    assignment_map: Tuple[Tuple[str, str], ...] = ()  # (target key or scope, base name or scope)
    snippets: Tuple[Snippet, ...] = ()

    def to_json(self) -> dict:
        return {
            "assignment_map": dict(self.assignment_map),
            "snippets": [s.to_json() for s in self.snippets],
        }


def object_nodes(rows) -> Tuple[ObjectNode, ...]:
    """ObjectNodes from (children, attributes, slot_variables) rows, one per node of a graph.

    The frozen dataclass's __init__ sets each slot through object.__setattr__; a graph has a
    node per variable, so the readers' nodes have their slots set by the slot descriptors
    directly, in about half the time. The nodes are ordinary records: tests/test_records.py
    holds them equal to ObjectNode's own, and tests/test_tf_bundle.py against TensorFlow's."""
    set_children, set_attributes, set_slots = _slot_setters(ObjectNode)  # unpacking fails if fields change
    out = []
    add = out.append
    for children, attributes, slots in rows:
        node = _new(ObjectNode)
        set_children(node, children)
        set_attributes(node, attributes)
        set_slots(node, slots)
        add(node)
    return tuple(out)


def assemble(cls, rows) -> tuple:
    """Instances of the frozen dataclass ``cls``, one per dict in ``rows``.

    The generated __init__ costs one object.__setattr__ per field; readers make tens of
    thousands of records per checkpoint, so they hand over finished field dicts instead.
    A row names every field, except that it may leave out fields whose value is their
    default: the class attribute of that name answers for them, as it does for every
    attribute read (equality, hash, repr, replace, pickling), and a dict of ten keys or
    fewer takes half the memory of one of twelve. The instances are ordinary records:
    tests/test_records.py holds them equal to the dataclass's own (fields, defaults, replace,
    frozenness, pickling). Only for classes with a __dict__ (not slotted ones such as
    ObjectNode). A row's dict holds only strings, numbers, None and a shape tuple the readers
    share between variables (which CPython untracks at its first collection), so the dict
    itself is mostly left untracked: only the instance is the collector's to walk."""
    fields = cls.__dataclass_fields__
    # Only a plain default leaves a class attribute behind; a default_factory field has none,
    # so a row must name it like a field without a default.
    required = {name for name, f in fields.items() if f.default is dataclasses.MISSING}
    checked = []
    add = checked.append
    count = None
    for row in rows:
        # Callers spell every row with one dict display, so the first row's keys are checked
        # in full and the rest by count (a full check of every row adds about a fifth).
        if count is None:
            names = row.keys()
            if not required <= names <= fields.keys():
                raise TypeError(f"{cls.__name__} needs the fields {sorted(required)} and no others "
                                f"than {list(fields)}, not {list(names)}")
            count = len(row)
        elif len(row) != count:
            raise TypeError(f"{cls.__name__}: every row must name the same fields as the first")
        add(row)
    return _with_dicts(cls, checked)


def _with_dicts(cls, rows) -> tuple:
    """An instance of ``cls`` per field dict, the dict itself its ``__dict__``."""
    new, put = object.__new__, object.__setattr__
    out = []
    add = out.append
    for row in rows:
        obj = new(cls)
        put(obj, "__dict__", row)
        add(obj)
    return tuple(out)
