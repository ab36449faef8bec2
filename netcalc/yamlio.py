"""Safe YAML loading that remembers where every value came from.

Only PyYAML's composer runs (no constructor that can build Python objects); the node
tree is converted by hand so that every tag is checked against a short allow-list,
aliases cannot expand without bound, and every mapping and list keeps the line and
column of its keys and items for error messages.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from netcalc.errors import Loc, SpecError

# libyaml's composer when PyYAML has it (about 10× faster); either way only composing runs.
_FAST_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
MAX_NODES = 1_000_000  # a billion-laughs alias bomb stops here instead of eating memory
MAX_FILE_BYTES = 16 * 2**20

_SCALAR_TAGS = {
    "tag:yaml.org,2002:str",
    "tag:yaml.org,2002:int",
    "tag:yaml.org,2002:float",
    "tag:yaml.org,2002:bool",
    "tag:yaml.org,2002:null",
}
_SEQ_TAG = "tag:yaml.org,2002:seq"
_MAP_TAG = "tag:yaml.org,2002:map"


class _SpecLoader(_FAST_SAFE_LOADER):
    """The safe loader, resolving each distinct scalar's implicit tag once: the composer asks
    for every scalar, and a spec repeats the same few (`conv`, `3`, `1`) thousands of times.
    Valid because a safe loader has no path resolvers: a tag depends on the scalar alone."""

    def __init__(self, stream):
        super().__init__(stream)
        self._tags = {}

    def resolve(self, kind, value, implicit):
        key = (kind, value, implicit)
        tag = self._tags.get(key)
        if tag is None:
            tag = self._tags[key] = super().resolve(kind, value, implicit)
        return tag


class _Located:
    """Where a YAML mapping or list and its parts stand in the file. The locations are read from
    the YAML node the value came from on first use: they are for error messages, and most are
    never needed (building them all up front was a third of loading a 10,000-layer spec). Code
    that builds a value itself assigns them instead."""

    _LOCATED: tuple = ()

    def __getattr__(self, name):
        source = self.__dict__.get("_source")
        if source is None or name not in self._LOCATED:
            raise AttributeError(name)
        file, node = source
        value = self.__dict__[name] = self._locate(name, file, node)
        return value


def _mark_loc(file: str, node) -> Loc:
    return Loc(file, node.start_mark.line + 1, node.start_mark.column + 1)


class YMap(_Located, dict):
    """A dict that knows where it, each key and each value stand in the file."""

    loc: Loc
    key_locs: dict
    value_locs: dict
    _LOCATED = ("loc", "key_locs", "value_locs")

    def loc_of(self, key) -> Loc:
        return self.value_locs.get(key) or self.key_locs.get(key) or self.loc

    def key_loc(self, key) -> Loc:
        """key_locs[key], without working out the other keys' places."""
        source = self.__dict__.get("_source")
        if source is None or "key_locs" in self.__dict__:
            return self.key_locs[key]
        for name, (key_node, _) in zip(self, source[1].value):
            if name == key:
                return _mark_loc(source[0], key_node)
        raise KeyError(key)

    def _locate(self, name, file, node):
        if name == "loc":
            return _mark_loc(file, node)
        part = 0 if name == "key_locs" else 1
        # the converter inserted one key per (key, value) node pair, in order
        return {key: _mark_loc(file, pair[part]) for key, pair in zip(self, node.value)}


class YList(_Located, list):
    """A list that knows where it and each item stand in the file."""

    loc: Loc
    item_locs: list
    _LOCATED = ("loc", "item_locs")

    def loc_of(self, index: int) -> Loc:
        return self.item_locs[index] if 0 <= index < len(self.item_locs) else self.loc

    def _locate(self, name, file, node):
        if name == "loc":
            return _mark_loc(file, node)
        return [_mark_loc(file, item) for item in node.value]


def loc_of(value, fallback: Loc | None = None) -> Loc | None:
    return getattr(value, "loc", fallback)


def load_yaml_file(path: str | Path):
    """Read a spec file into YMap/YList/scalars, or raise a located SpecError."""
    name = str(path)
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise SpecError(f"cannot read file: {exc.strerror or exc}", Loc(name, 1, 1)) from None
    if len(raw) > MAX_FILE_BYTES:
        raise SpecError(f"file is larger than {MAX_FILE_BYTES // 2**20} MB; not a spec", Loc(name, 1, 1))
    if b"\x00" in raw:
        raise SpecError("binary file (contains NUL bytes); expected a YAML spec", Loc(name, 1, 1))
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SpecError(f"not UTF-8 text (byte {exc.start}); expected a YAML spec", Loc(name, 1, 1)) from None
    return load_yaml_text(text, name)


def load_yaml_text(text: str, name: str = "<string>"):
    try:
        node = yaml.compose(text, Loader=_SpecLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        loc = Loc(name, mark.line + 1, mark.column + 1) if mark else Loc(name, 1, 1)
        problem = exc.problem or exc.context or "malformed YAML"
        raise SpecError(f"malformed YAML: {problem}", loc) from None
    except yaml.YAMLError as exc:
        raise SpecError(f"malformed YAML: {exc}", Loc(name, 1, 1)) from None
    if node is None:
        raise SpecError("empty file; a spec needs at least 'input' and 'layers'", Loc(name, 1, 1))
    return _Converter(name).convert(node)


class _Converter:
    def __init__(self, name: str):
        self.name = name
        self.count = 0
        self._scalars = yaml.SafeLoader("")  # only its scalar resolution is used
        self._scalar_values = {}  # (tag, text) → value: a spec repeats the same few scalars

    def _loc(self, node) -> Loc:
        return _mark_loc(self.name, node)

    def convert(self, node):
        """The node's value; a list or mapping also keeps its node, to tell locations from."""
        self.count += 1
        if self.count > MAX_NODES:
            raise SpecError(
                f"YAML expands to more than {MAX_NODES:,} values (aliases nested too deep?)",
                self._loc(node),
            )
        if isinstance(node, yaml.ScalarNode):
            key = (node.tag, node.value)
            try:
                return self._scalar_values[key]
            except KeyError:
                pass
            if node.tag not in _SCALAR_TAGS:
                raise SpecError(f"YAML tag '{node.tag}' is not allowed in a spec", self._loc(node))
            value = self._scalar_values[key] = self._scalars.construct_object(node)
            return value
        if isinstance(node, yaml.SequenceNode):
            if node.tag != _SEQ_TAG:
                raise SpecError(f"YAML tag '{node.tag}' is not allowed in a spec", self._loc(node))
            out = YList(self.convert(item) for item in node.value)
            out._source = (self.name, node)
            return out
        if isinstance(node, yaml.MappingNode):
            if node.tag != _MAP_TAG:
                raise SpecError(f"YAML tag '{node.tag}' is not allowed in a spec", self._loc(node))
            try:
                self._scalars.flatten_mapping(node)  # YAML merge keys (<<)
            except yaml.MarkedYAMLError as exc:
                raise SpecError(f"bad YAML merge key: {exc.problem}", self._loc(node)) from None
            out = YMap()
            for key_node, value_node in node.value:
                key = self.convert(key_node)
                if isinstance(key, (list, dict)):
                    raise SpecError("a mapping key must be a plain value", self._loc(key_node))
                if key in out:
                    raise SpecError(f"duplicate key '{key}'", self._loc(key_node))
                out[key] = self.convert(value_node)
            out._source = (self.name, node)
            return out
        raise SpecError("unsupported YAML node", self._loc(node))
