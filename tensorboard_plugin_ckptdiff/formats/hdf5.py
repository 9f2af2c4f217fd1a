"""HDF5 in pure Python for the Keras readers: open any file-like, walk the tree, read bounded slabs.

No byte of a checkpoint reaches libhdf5: a corrupt file made it crash the whole process
(SIGSEGV), and checking its structures one by one before it parsed them was a race we could
not win. The structures are decoded by pyfive (pure Python over numpy), driven from here:
this module owns opening, the walk, links, attributes, dtypes and value reads, and adds the
bounds pyfive leaves out (see ``Window``, ``_Objects`` and ``_Values``). Files are read through
what ``storage`` returns, so a remote file is read by byte ranges and a member of a ``.keras``
zip through a window onto the archive. Listing reads only the tree (shapes, dtypes,
attributes), never dataset values; values are read only after their claimed size is checked
against the file. Every failure becomes one CheckpointError that says what was being read.
"""

from __future__ import annotations

import collections
import contextlib
import math
import re
import struct
import threading
import zlib
from typing import Dict, Iterator, List, NamedTuple, Optional, Tuple

from tensorboard_plugin_ckptdiff.errors import CheckpointError

SIGNATURE = b"\x89HDF\r\n\x1a\n"
# HDF5 looks for its superblock at 0, 512, 1024, 2048...: a user block may come first.
_MAX_USERBLOCK = 1 << 24
_MAX_DEPTH = 64  # Keras nests a few levels; deeper means a hostile or broken tree
_MAX_OBJECTS = 1 << 20
# Deflate cannot shrink data by more than ~1032:1: a chunked dataset claiming more is lying.
_MAX_DEFLATE_RATIO = 1100
_UNALLOCATED_LIMIT = 1 << 20  # fill-value-only datasets larger than this are not Keras's
_NATURAL = re.compile(r"(\d+)")
_UNDEFINED = 0xFFFFFFFFFFFFFFFF
# pyfive re-reads nothing it has parsed, so reading a file's tree touches each structure about
# once. A file whose structures point back at themselves (a B-tree node that is its own child,
# an object header continued into itself) would be read forever: reads are counted and capped
# at a few times what a real file of that size could need.
_READ_BYTES_FACTOR = 4
_READ_BYTES_SLACK = 16 << 20
_READ_CALLS_SLACK = 1 << 16

# HDF5 message types and layout classes this module looks at (HDF5 file format spec IV.A.2).
_LINK_MSG = 0x06
_EXTERNAL_FILES_MSG = 0x07
_LAYOUT_MSG = 0x08
_COMPACT, _CONTIGUOUS, _CHUNKED = 0, 1, 2
_EXTERNAL = object()  # where an external link points: nowhere this reader goes
_GZIP, _SHUFFLE, _FLETCHER32 = 1, 2, 3


# ---------------------------------------------------------------- errors and opening


@contextlib.contextmanager
def h5_errors(what: str):
    """Any failure while parsing HDF5 for ``what`` becomes a CheckpointError."""
    try:
        yield
    except CheckpointError:
        raise
    except MemoryError as e:
        raise CheckpointError(f"{what}: the HDF5 file claims more data than fits in memory") from e
    except RecursionError as e:
        raise CheckpointError(f"{what}: the HDF5 tree nests too deeply to be a Keras file") from e
    except Exception as e:  # the parser's error types depend on where the damage is met
        text = str(e).strip().splitlines()[0][:200] if str(e).strip() else ""
        if isinstance(e, AssertionError) and not text:  # pyfive checks signatures with assert
            text = "a structure's signature or version is wrong"
        detail = f"{type(e).__name__}: {text}" if text else type(e).__name__
        raise CheckpointError(f"{what}: the HDF5 file is corrupt or truncated ({detail})") from e


def has_signature(fs, path: str, head: bytes) -> bool:
    """The HDF5 superblock signature at offset 0, 512, 1024, ... (``head`` covers the first)."""
    if head[:8] == SIGNATURE:
        return True
    if len(head) < 8:
        return False
    st = fs.stat(path)
    if st is None or st.is_dir:
        return False
    offset = 512
    try:
        with fs.open(path) as f:
            while offset + 8 <= min(st.size, _MAX_USERBLOCK):
                f.seek(offset)
                if f.read(8) == SIGNATURE:
                    return True
                offset *= 2
    except OSError:
        return False
    return False


class Window:
    """A read-only view of ``length`` bytes at ``offset`` of another file: a whole file, or a
    zip member stored without compression, read in place (remote archives stay ranged reads).

    It is what the parser reads through, so it also keeps the parser honest: a read never
    returns (or allocates) past the end of the view, whatever size a corrupt field asks for,
    and reads in all are capped (``_READ_BYTES_FACTOR``). It has no ``fileno`` and no ``fs``
    on purpose: pyfive would reopen a file by its name, or buffer a remote one whole."""

    def __init__(self, raw, offset: int, length: int):
        self._raw, self._offset, self._length, self._pos = raw, offset, length, 0
        self._bytes_left = _READ_BYTES_FACTOR * length + _READ_BYTES_SLACK
        self._calls_left = length // 8 + _READ_CALLS_SLACK
        self.closed = False

    def readable(self):
        return True

    def seekable(self):
        return True

    def tell(self):
        return self._pos

    # seek and read run thousands of times per file (a read per structure pyfive decodes):
    # plain comparisons here, no builtin call or tuple per call.
    def seek(self, pos, whence=0):
        if whence == 1:
            pos += self._pos
        elif whence == 2:
            pos += self._length
        elif whence:
            raise ValueError(f"invalid whence ({whence})")
        self._pos = pos if pos > 0 else 0
        return self._pos

    def read(self, n=-1):
        pos = self._pos
        left = self._length - pos
        if n is None or n < 0 or n > left:
            n = left if left > 0 else 0
        self._calls_left -= 1
        self._bytes_left -= n
        if self._calls_left < 0 or self._bytes_left < 0:
            raise CheckpointError(
                "the HDF5 structures point back into themselves (far more reads than the file's size explains)")
        if n == 0:
            return b""
        raw = self._raw
        raw.seek(self._offset + pos)
        data = raw.read(n)
        self._pos = pos + len(data)
        return data

    def close(self):
        self.closed = True


def _pyfive():
    """pyfive's modules, imported on first use (a TF bundle read never needs them)."""
    import warnings

    import pyfive.dataobjects
    import pyfive.h5d
    import pyfive.misc_low_level

    # pyfive warns (on stderr) about attributes of types it skips; what a reader cannot use
    # becomes its error or is left out, and `ckptdiff` owes its user one line, not library noise.
    warnings.filterwarnings("ignore", module="pyfive")
    return pyfive


_OBJECTS_CLASS = None
# pyfive.dataobjects and pyfive's error, bound by _objects_class() before any header is parsed:
# the parsers below run per object (hundreds per file), and an import statement there is a
# Python call each time.
_do = None
_InvalidHDF5File = None
_STRUCTS: Dict[int, tuple] = {}  # id(structure) -> (struct.Struct, keys, structure)


def _compiled(structure) -> tuple:
    # pyfive's structures are constants (class and module OrderedDicts/dicts): compile each once.
    # The structure itself is kept beside its Struct, so an id is never reused while cached.
    entry = _STRUCTS.get(id(structure))
    if entry is None or entry[2] is not structure:
        if len(_STRUCTS) > 1024:
            _STRUCTS.clear()
        entry = _STRUCTS[id(structure)] = (struct.Struct("<" + "".join(structure.values())),
                                            tuple(structure.keys()), structure)
    return entry


# The two below run once per structure read (thousands per file): _compiled's lookup inline.
def _unpack_struct_from(structure, buf, offset=0):
    entry = _STRUCTS.get(id(structure))
    if entry is None or entry[2] is not structure:
        entry = _compiled(structure)
    return dict(zip(entry[1], entry[0].unpack_from(buf, offset)))


def _unpack_struct_from_file(structure, fh):
    entry = _STRUCTS.get(id(structure))
    if entry is None or entry[2] is not structure:
        entry = _compiled(structure)
    compiled = entry[0]
    return dict(zip(entry[1], compiled.unpack(fh.read(compiled.size))))


def _structure_size(structure):
    return _compiled(structure)[0].size


def _decode_structures_once() -> None:
    """pyfive decodes every structure by joining its format string, sizing it and unpacking it
    into an OrderedDict, each time: a quarter of listing a .weights.h5. The same decoding with
    each format compiled once (a plain dict: ordered, and all pyfive reads is its keys)."""
    from pyfive import btree, core, dataobjects, datatype_msg, misc_low_level

    for module in (core, btree, dataobjects, datatype_msg, misc_low_level):
        for name, fast in (("_unpack_struct_from", _unpack_struct_from),
                           ("_unpack_struct_from_file", _unpack_struct_from_file),
                           ("_structure_size", _structure_size)):
            if hasattr(module, name):
                setattr(module, name, fast)


def _objects_class():
    """DataObjects (pyfive's object header parser) with the bounds it lacks."""
    global _OBJECTS_CLASS, _do, _InvalidHDF5File
    if _OBJECTS_CLASS is not None:
        return _OBJECTS_CLASS
    _decode_structures_once()
    from pyfive import dataobjects as do
    from pyfive.core import InvalidHDF5File
    from pyfive.datatype_msg import DatatypeMessage

    _do, _InvalidHDF5File = do, InvalidHDF5File

    class _Datatype(DatatypeMessage):
        # pyfive 1.3 reads enum member names unpadded only in datatype version 3; version 4
        # (libver "latest", e.g. h5py's bools) is laid out the same way.
        def _determine_dtype_enum(self, datatype_msg):
            if datatype_msg["class_and_version"] >> 4 >= 4:
                datatype_msg = dict(datatype_msg, class_and_version=0x30 | datatype_msg["class_and_version"] & 0xF)
            return super()._determine_dtype_enum(datatype_msg)

    class _Objects(do.DataObjects):
        # pyfive 1.3 appends each continuation block of an object header with `+=` and follows
        # continuations without remembering them: a header continued into itself grows and
        # is re-copied until memory runs out. Here each block is read once, headers are
        # capped at the 4 GiB the format allows, and a bad header is an error, not an assert.

        _parse_v1_objects = staticmethod(_v1_objects)
        _parse_v2_objects = _v2_objects
        _parse_v2_header = staticmethod(_v2_header)
        _decode_link_msg = staticmethod(_link_msg)

        @property
        def ptype(self):
            msg = self.find_msg_type(do.DATATYPE_MSG_TYPE)[0]
            return _Datatype(self.msg_data, msg["offset_to_message"]).ptype

        def _attr_value(self, ptype, buf, count, offset):
            # pyfive allocates (and, for strings, loops over) as many elements as the
            # dataspace claims: check the claim against the bytes that would hold them.
            from pyfive.p5t import P5ReferenceType, P5SequenceType, P5VlenStringType

            width = 16 if isinstance(ptype, (P5SequenceType, P5VlenStringType)) else \
                8 if isinstance(ptype, P5ReferenceType) else max(1, ptype.dtype.itemsize)
            if count * width > len(buf) - offset:
                raise InvalidHDF5File(f"an attribute claims {count} values in {len(buf) - offset} bytes")
            return super()._attr_value(ptype, buf, count, offset)

    _OBJECTS_CLASS = _Objects
    return _Objects


# The object-header parsing _Objects puts in place of pyfive's (see its comment).


def _v1_objects(fh):
    do, InvalidHDF5File = _do, _InvalidHDF5File
    header = _unpack_struct_from_file(do.OBJECT_HEADER_V1, fh)
    if header["version"] != 1:
        raise InvalidHDF5File("unknown object header version")
    blocks = [fh.read(header["object_header_size"])]
    data = blocks[0]
    seen = set()
    offset = 0
    msgs = []
    for _ in range(header["total_header_messages"]):
        msg = _unpack_struct_from(do.HEADER_MSG_INFO_V1, data, offset)
        msg["offset_to_message"] = offset + 8
        if msg["type"] == do.OBJECT_CONTINUATION_MSG_TYPE:
            address, size = struct.unpack_from("<QQ", data, offset + 8)
            if address in seen:
                raise InvalidHDF5File("an object header continues into itself")
            seen.add(address)
            fh.seek(address)
            blocks.append(fh.read(size))
            data = b"".join(blocks)
        msgs.append(msg)
        offset += 8 + msg["size"]
    return msgs, data, header

def _v2_objects(self, fh):
    do, InvalidHDF5File = _do, _InvalidHDF5File
    header, order_size = _v2_header(fh)
    msgs = []
    data = fh.read(header["size_of_chunk_0"])
    blocks = [data]
    seen = set()
    offset = 0
    chunk_sizes = [header["size_of_chunk_0"]]
    current = 0
    processed = 0
    while offset < len(data) - 4:
        msg = _unpack_struct_from(do.HEADER_MSG_INFO_V2, data, offset)
        msg["offset_to_message"] = offset + 4 + order_size
        if msg["type"] == do.OBJECT_CONTINUATION_MSG_TYPE:
            address, size = struct.unpack_from("<QQ", data, offset + 4 + order_size)
            if address in seen:
                raise InvalidHDF5File("an object header continues into itself")
            seen.add(address)
            fh.seek(address)
            block = fh.read(size)
            if block[:4] != b"OCHK" or size < 4:
                raise InvalidHDF5File("an object header continuation block is damaged")
            chunk_sizes.append(size - 4)
            blocks.append(block[4:])
            data = b"".join(blocks)
        msgs.append(msg)
        offset += 4 + msg["size"] + order_size
        within = offset - processed
        if within + 4 >= chunk_sizes[current]:
            offset += chunk_sizes[current] - within
            processed += chunk_sizes[current]
            current += 1
            if current >= len(chunk_sizes):
                break
    return msgs, data, header

def _v2_header(fh):
    do, InvalidHDF5File = _do, _InvalidHDF5File
    header = _unpack_struct_from_file(do.OBJECT_HEADER_V2, fh)
    if header["signature"] != b"OHDR" or header["version"] != 2:
        raise InvalidHDF5File("unknown object header")
    order_size = 2 if header["flags"] & 4 else 0
    if header["flags"] & 16:
        fh.read(4)  # maximum compact / minimum dense attribute counts
    if header["flags"] & 32:
        fh.read(16)  # access, modification, change and birth times
    width = ("<B", "<H", "<I", "<Q")[header["flags"] & 3]
    header["size_of_chunk_0"] = struct.unpack(width, fh.read(struct.calcsize(width)))[0]
    return header, order_size

def _link_msg(data, offset):
    InvalidHDF5File = _InvalidHDF5File
    # pyfive asserts on an external link (type 64), which would make the whole group
    # unreadable: it is kept here as a link that is listed but never followed.
    version, flags = struct.unpack_from("<BB", data, offset)
    offset += 2
    if version != 1:
        raise InvalidHDF5File("unknown link message version")
    link_type = 0
    if flags & 8:
        link_type = data[offset]
        offset += 1
    order = None
    if flags & 4:
        (order,) = struct.unpack_from("<Q", data, offset)
        offset += 8
    encoding = "ascii"
    if flags & 16:
        encoding = "utf-8" if data[offset] else "ascii"
        offset += 1
    width = 1 << (flags & 3)
    size = int.from_bytes(data[offset:offset + width], "little")
    offset += width
    name = bytes(data[offset:offset + size]).decode(encoding, "replace")
    offset += size
    if link_type == 0:
        (address,) = struct.unpack_from("<Q", data, offset)
    elif link_type == 1:
        (length,) = struct.unpack_from("<H", data, offset)
        address = bytes(data[offset + 2:offset + 2 + length]).decode(encoding, "replace")
    else:
        address = _EXTERNAL
    return order, (name, address)


class Group:
    """An HDF5 group: its hard-linked members by name, and its attributes."""

    def __init__(self, h5: "File", objects, name: str):
        self._file, self._objects, self.name = h5, objects, name
        self._links: Optional[Dict[str, object]] = None
        self._attrs: Optional[dict] = None

    @property
    def address(self) -> int:
        return self._objects.offset

    def links(self) -> Dict[str, object]:
        """name -> object header address (hard links), a path (soft links) or _EXTERNAL."""
        if self._links is None:
            links = {}
            for name, target in self._objects.iter_links():
                if len(links) >= _MAX_OBJECTS:
                    raise CheckpointError(f"the HDF5 group {self.name!r} holds more than {_MAX_OBJECTS} members")
                links[name] = target
            self._links = links
        return self._links

    def keys(self) -> List[str]:
        return list(self.links())

    @property
    def attrs(self) -> dict:
        if self._attrs is None:
            self._attrs = self._objects.get_attributes()
        return self._attrs

    def member(self, name: str):
        """The Group or Dataset hard-linked as ``name``; None for a link to elsewhere or a
        committed datatype; KeyError when there is no such member."""
        target = self.links()[name]
        if not isinstance(target, int):
            return None
        path = f"{self.name}/{name}" if self.name else name
        return self._file.object_at(target, path)

    def __contains__(self, path: str) -> bool:
        try:
            return self._resolve(path) is not None
        except KeyError:
            return False

    def __getitem__(self, path: str):
        node = self._resolve(path)
        if node is None:
            raise CheckpointError(f"{path!r} is a link to another place or file; links are not followed")
        return node

    def _resolve(self, path: str):
        node = self
        parts = [p for p in path.split("/") if p]
        for i, part in enumerate(parts):
            if not isinstance(node, Group):
                raise KeyError(path)
            node = node.member(part)
            if node is None:
                return None
        return node


class Dataset:
    """An HDF5 dataset: shape, numpy dtype and attributes from its header; values on request."""

    def __init__(self, h5: "File", objects, name: str):
        self._file, self._objects, self.name = h5, objects, name
        self.shape = objects.shape
        self._ptype = objects.ptype
        self._attrs: Optional[dict] = None

    @property
    def attrs(self) -> dict:
        if self._attrs is None:
            self._attrs = self._objects.get_attributes()
        return self._attrs

    @property
    def dtype(self):
        return self._ptype.dtype

    @property
    def ptype(self):
        return self._ptype


class File(Group):
    """An HDF5 file opened on a Window; closing closes nothing else."""

    def __init__(self, window: Window):
        pf = _pyfive()
        from pyfive.core import InvalidHDF5File

        offset = 0
        while True:  # the superblock: at 0, 512, 1024, ... after a user block
            if offset + 8 > min(window._length, _MAX_USERBLOCK):
                raise InvalidHDF5File("no HDF5 signature")
            window.seek(offset)
            if window.read(8) == SIGNATURE:
                break
            offset = 512 if offset == 0 else offset * 2
        superblock = pf.misc_low_level.SuperBlock(window, offset)
        # HDF5 records where the file ends; a shorter file lost its tail (h5py refuses it too),
        # whether or not the tree read below happens to sit before the cut.
        stored_eof = superblock._contents.get("end_of_file_address", 0)
        if stored_eof != _UNDEFINED and stored_eof > window._length:
            raise CheckpointError(f"the file is truncated: HDF5 says it ends at byte {stored_eof}, "
                                  f"but it has {window._length} bytes")
        base = superblock._contents.get("base_address") or 0
        if base:  # addresses count from the base (the superblock, after a user block)
            if base > offset:
                raise InvalidHDF5File("the superblock's base address lies past the superblock")
            window = Window(window._raw, window._offset + base, window._length - base)
            superblock = pf.misc_low_level.SuperBlock(window, offset - base)
        self.window = window
        self._objects_at: Dict[int, object] = {}
        self._heaps: dict = {}  # global heap collections, parsed once per file
        self._nodes: Dict[int, object] = {}
        super().__init__(self, self._parse(superblock.offset_to_dataobjects), "")

    def _parse(self, address: int):
        objects = self._objects_at.get(address)
        if objects is None:
            if len(self._objects_at) >= _MAX_OBJECTS:
                raise CheckpointError(f"the HDF5 file holds more than {_MAX_OBJECTS} objects")
            objects = _objects_class()(self.window, address, global_heaps=self._heaps)
            self._objects_at[address] = objects
        return objects

    def object_at(self, address: int, path: str):
        """The Group or Dataset whose header is at ``address``; None for a committed datatype."""
        if address in self._nodes:  # one node per object: a group's links are decoded once
            return self._nodes[address]
        objects = self._parse(address)
        if objects.is_dataset:
            node = Dataset(self, objects, path)
        elif objects.msgs and objects.msgs[0]["type"] == _do.DATATYPE_MSG_TYPE:
            node = None
        else:
            node = Group(self, objects, path)
        self._nodes[address] = node
        return node

    def close(self):
        self.window.close()


def open_file(fileobj, what: str, size: int) -> File:
    """The HDF5 file in the first ``size`` bytes of ``fileobj``; CheckpointError when it is not
    a readable one."""
    window = fileobj if isinstance(fileobj, Window) else Window(fileobj, 0, size)
    with h5_errors(what):
        return File(window)


def _file_stat(fs, path: str, what: str):
    """The Stat of a non-empty regular file, else a CheckpointError saying it is not ``what``."""
    st = fs.stat(path)
    if st is None:
        raise CheckpointError(f"no such file {path!r}")
    if st.is_dir:
        raise CheckpointError(f"{path!r} is a directory, not {what}")
    if st.size == 0:
        raise CheckpointError(f"the file is empty (0 bytes), not {what}")
    return st


def file_size(fs, path: str, what: str) -> int:
    """The size of a non-empty regular file, else a CheckpointError saying it is not ``what``."""
    return _file_stat(fs, path, what).size


@contextlib.contextmanager
def opened(fs, path: str):
    """(File, file size) of ``path``, closed on exit; errors name the file's problem."""
    st = _file_stat(fs, path, "an HDF5 file")
    with fs.open(path) as raw:
        h5 = open_file(raw, "cannot open the HDF5 file", st.size)
        try:
            yield h5, st.size
        finally:
            h5.close()


# ---------------------------------------------------------------- attributes and dtypes


def text_list(value) -> List[str]:
    """An attribute holding names (bytes or str, array or scalar) as a list of str."""
    import numpy as np

    if value is None:
        return []
    items = value.tolist() if isinstance(value, np.ndarray) else value
    if isinstance(items, np.generic):
        items = items.item()
    if isinstance(items, (bytes, str)):
        items = [items]
    if not isinstance(items, (list, tuple)):
        raise CheckpointError(f"expected a list of names in an HDF5 attribute, found {type(items).__name__}")
    return [i.decode("utf-8", "replace") if isinstance(i, bytes) else str(i) for i in items]


def name_attribute(obj, name: str) -> Optional[List[str]]:
    """A list-of-names attribute, joined from ``name0``, ``name1``... when Keras split it
    to fit HDF5's 64 KiB object-header limit; None when absent."""
    attrs = obj.attrs
    if name in attrs:
        return text_list(attrs[name])
    if f"{name}0" not in attrs:
        return None
    out, k = [], 0
    while f"{name}{k}" in attrs and k < _MAX_OBJECTS:
        out.extend(text_list(attrs[f"{name}{k}"]))
        k += 1
    return out


def text_attribute(obj, name: str) -> Optional[str]:
    import numpy as np

    value = obj.attrs.get(name)
    if isinstance(value, np.ndarray) and value.shape == ():
        value = value.item()
    if isinstance(value, np.bytes_):
        value = bytes(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value) if isinstance(value, str) else None


def _is_bool_enum(dt) -> bool:
    # h5py stores numpy bools as an HDF5 enum {FALSE: 0, TRUE: 1} over int8.
    mapping = (dt.metadata or {}).get("enum")
    return mapping is not None and dt.itemsize == 1 and set(mapping) == {"FALSE", "TRUE"}


def dtype_name(dataset) -> str:
    """Numpy-style dtype name of a dataset, from its type alone (no values read)."""
    dt = dataset.dtype
    if dt.kind == "V" and dt.itemsize == 2 and dt.fields is None and text_attribute(dataset, "dtype") == "bfloat16":
        return "bfloat16"  # Keras 3 stores bfloat16 as 2-byte opaque with this attribute
    if dt.kind in ("S", "U", "O"):
        return "string"
    if dt.kind == "b" or _is_bool_enum(dt):
        return "bool"
    return dt.name


def numpy_dtype(dataset):
    import numpy as np

    name = dtype_name(dataset)
    if name == "bfloat16":
        import ml_dtypes

        return np.dtype(ml_dtypes.bfloat16)
    if name == "bool":
        return np.dtype(np.bool_)
    # Plain numpy dtypes: pyfive's carry metadata (enum maps, opaque tags) values do not need.
    dt = dataset.dtype
    return np.dtype(dt.str) if dt.fields is None and dt.kind not in "OV" else dt


def itemsize(dataset) -> Optional[int]:
    if dtype_name(dataset) == "string":
        return None
    return dataset.dtype.itemsize


def shape_of(dataset) -> Optional[Tuple[int, ...]]:
    shape = dataset.shape
    return None if shape is None else tuple(int(d) for d in shape)


def facts(dataset) -> Tuple[Optional[Tuple[int, ...]], str, Optional[int]]:
    """(shape, dtype name, size in bytes) of a dataset, as a Variable records them: the dtype
    named once (numpy's dtype.name is Python code, and a file has hundreds of datasets)."""
    shape, name = shape_of(dataset), dtype_name(dataset)
    size = None if shape is None or name == "string" else math.prod(shape) * dataset.dtype.itemsize
    return shape, name, size


# ---------------------------------------------------------------- walking


def natural_key(name: str):
    """Keras names datasets 0, 1, ... 10: sort them as numbers, not as text."""
    return [(0, int(p), "") if p.isdigit() else (1, 0, p) for p in _NATURAL.split(name) if p]


class Found(NamedTuple):
    path: str  # '/'-separated, no leading slash
    dataset: Dataset


def walk(h5: File) -> Iterator[Found]:
    """Every dataset reachable by hard links, depth first, members in natural order.

    Soft and external links are not followed: an external link would make a checkpoint
    read another file on the machine. A group reached twice (hard-link loop) is walked once.
    """
    seen = set()
    count = 0

    def entered(group: Group, depth: int):
        """The group's member names in natural order, or None when it was walked already."""
        if depth > _MAX_DEPTH:
            raise CheckpointError(f"the HDF5 tree nests deeper than {_MAX_DEPTH} levels at {group.name!r}")
        if group.address in seen:
            return None
        seen.add(group.address)
        return iter(sorted(group.links(), key=natural_key))

    # A stack of (group, its path, depth, its remaining member names): depth first, each
    # subgroup walked where it stands among its siblings.
    stack = [(h5, "", 0, entered(h5, 0))]
    while stack:
        group, prefix, depth, names = stack[-1]
        name = next(names, None)
        if name is None:
            stack.pop()
            continue
        count += 1
        if count > _MAX_OBJECTS:
            raise CheckpointError(f"the HDF5 file holds more than {_MAX_OBJECTS} objects")
        obj = group.member(name)
        path = f"{prefix}/{name}" if prefix else name
        if isinstance(obj, Group):
            members = entered(obj, depth + 1)
            if members is not None:
                stack.append((obj, path, depth + 1, members))
        elif isinstance(obj, Dataset):
            yield Found(path, obj)


def dataset_at(h5: File, key: str) -> Dataset:
    """The dataset at ``key`` through hard links only; CheckpointError when there is none."""
    parts = [p for p in key.split("/") if p]
    if not parts:
        raise CheckpointError(f"no tensor {key!r} in this checkpoint")
    node = h5
    with h5_errors(f"cannot find tensor {key!r}"):
        for part in parts:
            if not isinstance(node, Group) or part not in node.links():
                raise CheckpointError(f"no tensor {key!r} in this checkpoint")
            target = node.links()[part]
            if not isinstance(target, int):
                raise CheckpointError(f"{key!r} is a link to another place or file; links are not followed")
            node = node.member(part)
            if node is None:
                raise CheckpointError(f"no tensor {key!r} in this checkpoint")
    if not isinstance(node, Dataset):
        raise CheckpointError(f"{key!r} is a group, not a tensor")
    return node


# ---------------------------------------------------------------- values


class _Storage(NamedTuple):
    layout: int
    address: int  # contiguous: where the values start (_UNDEFINED when never written)
    compact: bytes  # compact: the values, kept in the header


def _storage(dataset: Dataset, key: str) -> _Storage:
    objects = dataset._objects
    if objects.find_msg_type(_EXTERNAL_FILES_MSG):
        raise CheckpointError(f"tensor {key!r} keeps its values in other files; they are not read")
    layouts = objects.find_msg_type(_LAYOUT_MSG)
    if not layouts:
        raise CheckpointError(f"tensor {key!r} has no data layout")
    data, at = objects.msg_data, layouts[0]["offset_to_message"]
    version = data[at]
    if version in (3, 4):  # 4 differs from 3 only in how chunks are indexed
        layout = data[at + 1]
        if layout == _CONTIGUOUS:
            (address,) = struct.unpack_from("<Q", data, at + 2)
            return _Storage(layout, address, b"")
        if layout == _COMPACT:
            (size,) = struct.unpack_from("<H", data, at + 2)
            return _Storage(layout, _UNDEFINED, bytes(data[at + 4:at + 4 + size]))
        if layout == _CHUNKED and version == 3:
            return _Storage(layout, _UNDEFINED, b"")
        if layout == _CHUNKED:  # pyfive 1.3 reads B-tree chunk indexes (libver "earliest") only
            raise CheckpointError(f"tensor {key!r} is stored in chunks indexed the HDF5 1.10 way "
                                  "(libver 'latest'), which this reader does not read yet")
    elif version in (1, 2):
        layout = data[at + 2]
        if layout == _CONTIGUOUS:
            (address,) = struct.unpack_from("<Q", data, at + 8)
            return _Storage(layout, address, b"")
        if layout == _CHUNKED:
            return _Storage(layout, _UNDEFINED, b"")
    raise CheckpointError(f"tensor {key!r} uses a data layout this reader does not support (version {version})")


_VALUES_CLASS = None


def _values_class():
    """pyfive's DatasetID, decoding chunks with bounds of our own."""
    global _VALUES_CLASS
    if _VALUES_CLASS is not None:
        return _VALUES_CLASS
    import numpy as np
    from pyfive.h5d import DatasetID

    class _Values(DatasetID):
        # pyfive inflates a chunk with no limit (a small chunk can claim gigabytes) and checks
        # Fletcher-32 in C (numcodecs); here each filter is undone within the chunk's own size.
        def _decode_chunk(self, chunk_buffer, filter_mask, dtype):
            expected = math.prod(self.chunks) * self.dtype.itemsize
            pipeline = self.filter_pipeline or []
            for index in range(len(pipeline) - 1, -1, -1):
                if filter_mask & (1 << index):
                    continue
                chunk_buffer = _unfilter(pipeline[index]["filter_id"], chunk_buffer, expected,
                                         self.dtype.itemsize)
            if len(chunk_buffer) != expected:
                raise CheckpointError(f"a chunk holds {len(chunk_buffer)} bytes where its shape needs {expected}")
            return np.frombuffer(chunk_buffer, dtype=dtype).reshape(self.chunks)

    _VALUES_CLASS = _Values
    return _Values


def _unfilter(filter_id: int, data: bytes, expected: int, item: int) -> bytes:
    """One HDF5 filter undone, never producing more than ``expected`` bytes (+ a checksum)."""
    import numpy as np

    if filter_id == _GZIP:
        inflater = zlib.decompressobj()
        out = inflater.decompress(data, expected + 4 + 1)
        if len(out) > expected + 4 or inflater.unconsumed_tail:
            raise CheckpointError(f"a compressed chunk inflates past the {expected} bytes its shape holds")
        return out
    if filter_id == _SHUFFLE:
        whole = len(data) - len(data) % item
        planes = np.frombuffer(data, np.uint8, whole).reshape(item, whole // item)
        return planes.T.tobytes() + data[whole:]
    if filter_id == _FLETCHER32:
        if len(data) < 4:
            raise CheckpointError("a chunk is too short for its Fletcher-32 checksum")
        stored = data[-4:]
        # Stored little-endian; HDF5 also accepts the byte order its releases before 1.6.3 wrote.
        candidates = (stored, bytes((stored[0], stored[2], stored[1], stored[3])))
        if _fletcher32(data[:-4]) not in {_halves(c) for c in candidates}:
            raise CheckpointError("a chunk fails its Fletcher-32 checksum: the file is corrupt")
        return data[:-4]
    raise CheckpointError(f"a chunk is compressed with HDF5 filter {filter_id}, which this reader does not support")


def _halves(stored: bytes) -> Tuple[int, int]:
    value = int.from_bytes(stored, "little")
    return (value >> 16) % 65535, (value & 0xFFFF) % 65535


def _fletcher32(data: bytes) -> Tuple[int, int]:
    """HDF5's Fletcher-32 over big-endian 16-bit words (an odd last byte is a high byte), as
    (sum2, sum1) mod 65535: HDF5's folded sums are those, with 65535 standing for 0."""
    import numpy as np

    if len(data) % 2:
        data = data + b"\x00"
    words = np.frombuffer(data, ">u2").astype(np.uint64)
    n = len(words)
    sum1 = int(words.sum()) % 65535
    # Chunks are at most 4 GiB: n * 65535 * n fits in 64 bits only for n < 2**24, so weight
    # in float-free pieces to stay exact.
    weights = np.arange(n, 0, -1, dtype=np.uint64) % 65535
    sum2 = 0
    for start in range(0, n, 1 << 20):
        sum2 += int((words[start:start + (1 << 20)] * weights[start:start + (1 << 20)]).sum()) % 65535
    return sum2 % 65535, sum1


def _chunk_index(dataset: Dataset, key: str, file_size: int):
    """pyfive's reader of a chunked dataset, its chunk B-tree read and every chunk bounded."""
    values = _values_class()(dataset._objects, noindex=True)
    with h5_errors(f"cannot read the chunks of tensor {key!r}"):
        values._build_index()
    for info in values._index.values():
        if info.byte_offset + info.size > file_size:
            raise CheckpointError(
                f"tensor {key!r} has a chunk at bytes [{info.byte_offset}, {info.byte_offset + info.size}) "
                f"of a {file_size}-byte file: the file is truncated or corrupt")
    return values


def check_claim(dataset: Dataset, key: str, file_size: int):
    """Refuse a dataset whose claimed size its storage in this file cannot back; the storage."""
    shape = shape_of(dataset)
    if shape is None:
        raise CheckpointError(f"tensor {key!r} has no shape (an HDF5 null dataspace)")
    with h5_errors(f"cannot read tensor {key!r}"):
        storage = _storage(dataset, key)
    numel = math.prod(shape)
    size = itemsize(dataset)
    if size is None:  # variable-length strings: each element has a 16-byte heap reference
        if numel * 16 > file_size:
            raise CheckpointError(f"tensor {key!r} claims {numel} strings, more than the file can hold")
        return storage
    nbytes = numel * size
    if storage.layout == _CONTIGUOUS:
        if storage.address == _UNDEFINED:
            if nbytes > _UNALLOCATED_LIMIT:
                raise CheckpointError(f"tensor {key!r} claims {nbytes} bytes but none are stored")
        elif storage.address + nbytes > file_size:
            raise CheckpointError(
                f"tensor {key!r} claims bytes [{storage.address}, {storage.address + nbytes}) but the file has "
                f"{file_size}: the file is truncated or corrupt")
    elif storage.layout == _CHUNKED:
        if nbytes > file_size * _MAX_DEFLATE_RATIO + _UNALLOCATED_LIMIT:
            raise CheckpointError(f"tensor {key!r} claims {nbytes} bytes from a {file_size}-byte file: "
                                  "not a real dataset")
    elif nbytes > len(storage.compact):
        raise CheckpointError(f"tensor {key!r} claims {nbytes} bytes in a compact layout holding "
                              f"{len(storage.compact)}")
    return storage


def _converted(values, dataset: Dataset):
    import numpy as np

    dtype = numpy_dtype(dataset)
    values = np.asarray(values)
    if dtype != values.dtype and dtype.itemsize == values.dtype.itemsize and values.dtype.kind != "O":
        values = values.view(dtype)
    return values


class _Reader:
    """Reads selections of one dataset whose claim was checked: slabs along the leading axes."""

    def __init__(self, h5: File, dataset: Dataset, key: str, file_size: int):
        self._h5, self._dataset, self._key, self._file_size = h5, dataset, key, file_size
        self._storage = check_claim(dataset, key, file_size)
        self._shape = shape_of(dataset)
        self._chunked = None

    def read(self, selection=()):
        import numpy as np

        ds, storage, shape = self._dataset, self._storage, self._shape
        dtype = numpy_dtype(ds)
        with h5_errors(f"cannot read tensor {self._key!r}"):
            if itemsize(ds) is None:
                return self._strings()[selection] if selection else self._strings()
            if storage.layout == _CHUNKED:
                if self._chunked is None:
                    self._chunked = _chunk_index(ds, self._key, self._file_size)
                if not self._chunked._index:
                    return np.zeros(shape, dtype)[selection]  # never written: the fill value
                return _converted(self._chunked._get_selection_via_chunks(selection or ()), ds)
            if storage.layout == _COMPACT:
                raw = np.frombuffer(storage.compact, dtype=ds.dtype.str if ds.dtype.kind != "V" else ds.dtype,
                                    count=math.prod(shape))
                return _converted(raw.reshape(shape)[selection] if selection else raw.reshape(shape), ds)
            if storage.address == _UNDEFINED:
                return np.zeros(shape, dtype)[selection] if selection else np.zeros(shape, dtype)
            return self._contiguous(selection)

    def _contiguous(self, selection):
        """C-order values of a slab (leading indices, then at most one slice) are one byte range."""
        import numpy as np

        shape, item = self._shape, self._dataset.dtype.itemsize
        strides = [math.prod(shape[axis + 1:]) * item for axis in range(len(shape))]
        start, out_shape, count = 0, list(shape), math.prod(shape) * item
        for axis, sel in enumerate(selection):
            if isinstance(sel, slice):
                lo, hi, _ = sel.indices(shape[axis])
                start += lo * strides[axis]
                out_shape, count = [hi - lo] + list(shape[axis + 1:]), (hi - lo) * strides[axis]
                break
            start += sel * strides[axis]
            out_shape, count = list(shape[axis + 1:]), strides[axis]
        window = self._h5.window
        window.seek(self._storage.address + start)
        data = window.read(count)
        if len(data) != count:
            raise CheckpointError(f"tensor {self._key!r} is cut short: the file is truncated")
        stored = self._dataset.dtype
        raw = np.frombuffer(data, dtype=np.dtype(stored.str) if stored.fields is None else stored)
        return _converted(raw.reshape(out_shape), self._dataset)

    def _strings(self):
        from pyfive.misc_low_level import get_vlen_string_data_contiguous

        if self._storage.layout != _CONTIGUOUS or self._storage.address == _UNDEFINED:
            raise CheckpointError(f"tensor {self._key!r} holds strings stored in a way this reader does not read")
        return get_vlen_string_data_contiguous(self._h5.window, self._storage.address, self._h5._heaps,
                                               self._shape, self._dataset.ptype, None)


def read_values(h5: File, dataset: Dataset, key: str, file_size: int):
    """All values of one dataset, bounds-checked first."""
    return _Reader(h5, dataset, key, file_size).read()


def _blocks(shape, row_bytes_of, max_bytes: int, prefix=()) -> Iterator[tuple]:
    if not shape:
        yield prefix
        return
    inner = row_bytes_of(shape[1:])
    if inner <= max_bytes:
        rows = max(1, max_bytes // max(inner, 1))
        for start in range(0, shape[0], rows):
            yield prefix + (slice(start, min(start + rows, shape[0])),)
        return
    for i in range(shape[0]):
        yield from _blocks(shape[1:], row_bytes_of, max_bytes, prefix + (i,))


def iter_values(h5: File, dataset: Dataset, key: str, file_size: int, max_bytes: int) -> Iterator:
    """The dataset's values as flat C-order chunks of at most ``max_bytes`` (one row of
    the innermost axis at least), read as slabs along the leading axes."""
    reader = _Reader(h5, dataset, key, file_size)
    shape = shape_of(dataset)
    size = itemsize(dataset) or 16
    if math.prod(shape) == 0:
        return
    for selection in _blocks(shape, lambda rest: math.prod(rest) * size, max(1, max_bytes)):
        yield reader.read(selection).reshape(-1)


# ---------------------------------------------------------------- which Keras wrote it

KERAS3 = "keras3"
LEGACY = "legacy"


def is_legacy(h5: File) -> bool:
    """tf-keras (and Keras 3's legacy ``model.save('x.h5')``) mark their files with a
    ``layer_names`` attribute, or a ``model_weights`` group for a whole model."""
    return "model_weights" in h5.links() or name_attribute(h5, "layer_names") is not None


# Both Keras readers sniff the same file in turn: its tree is parsed once per version of it.
_KINDS: "collections.OrderedDict[tuple, str]" = collections.OrderedDict()
_KINDS_KEPT = 256
_KINDS_LOCK = threading.Lock()


def glance(fs, path: str) -> Optional[str]:
    """Why the file cannot be HDF5 from its first 8 bytes, or None."""
    with fs.open(path) as f:
        head = f.read(8)
    return None if head == SIGNATURE else f"not an HDF5 file (starts with {head!r})"


def tree_kind(fs, path: str, head: bytes) -> Optional[str]:
    """KERAS3 or LEGACY for an HDF5 file, "" when it has the signature but cannot be
    opened (the reader the name points to reports why), None when it is not HDF5."""
    if not has_signature(fs, path, head):
        return None
    st = fs.stat(path)
    # Object stores without modification times cannot tell versions apart: never cached.
    version = (path, st.size, st.mtime, head) if st is not None and st.mtime else None
    with _KINDS_LOCK:
        if version in _KINDS:
            return _KINDS[version]
    try:
        with opened(fs, path) as (h5, _):
            with h5_errors("cannot read the HDF5 tree"):
                kind = LEGACY if is_legacy(h5) else KERAS3
    except (CheckpointError, OSError):
        kind = ""
    if version is not None:
        with _KINDS_LOCK:
            _KINDS[version] = kind
            while len(_KINDS) > _KINDS_KEPT:
                _KINDS.popitem(last=False)
    return kind
