"""YAML read defensively: the file's bytes to plain data, with bounds a hostile
or broken file cannot get past.

    decode(raw) -> str                    UTF-8 (a BOM is fine), else YamlError
    read_yaml(text) -> (node, data)       the node tree (for lines) and the data

The node tree is composed here from libyaml's events, one event at a time and
without recursion, so that every limit is enforced *while* the file is read:
nesting deeper than ``MAX_DEPTH`` levels (libyaml's own composer recurses in C
and overflows the stack near 100,000 levels), an alias that refers to the
node containing it, more than ``MAX_ALIASES`` alias uses, or aliases that
would add more than ``MAX_ALIAS_NODES`` nodes (or as many as the file itself
has, if that is more) when expanded. A "billion laughs" file is refused at
its first alias past the bound, before anything is expanded.

Errors name the line and never carry the file's text: a secret typed in the
wrong place must not reach a terminal or a log.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml
from yaml.events import (
    AliasEvent,
    DocumentEndEvent,
    DocumentStartEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceStartEvent,
    StreamEndEvent,
    StreamStartEvent,
)
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from sentinel.config.quote import clip_quoted, shown

MAX_DEPTH = 64  # a sentinel config is about 8 levels deep; a JSON body under expect a few more
MAX_ALIASES = 10_000
MAX_ALIAS_NODES = 100_000
MAX_FILE_BYTES = 32 * 1024 * 1024  # a 10,000-check file is about 1.3 MB

# libyaml's parser when PyYAML has it: a 10,000-check file loads several times faster.
_Base: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class YamlError(Exception):
    """A file that is not YAML sentinel can read: one line, and its line number."""

    def __init__(self, line: int, problem: str) -> None:
        super().__init__(problem)
        self.line = line
        self.problem = problem


class _Loader(_Base):  # type: ignore[misc]  # PyYAML's loader classes are untyped
    def construct_object(self, node: Node, deep: bool = False) -> Any:
        # A scalar the resolver took for an int or a date but that is not one
        # (2026-13-45, 5,000 digits) raises ValueError from PyYAML's constructor;
        # one forced with a tag (!!timestamp "x") can raise AttributeError.
        try:
            return super().construct_object(node, deep)
        except (ValueError, OverflowError, TypeError, AttributeError):
            raise YamlError(node.start_mark.line + 1, "invalid value for its type") from None


def decode(raw: bytes) -> str:
    """The text of a config file; where it is not UTF-8, say where, not what."""
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        raise YamlError(
            line,
            f"the file is not UTF-8: invalid byte at column {column} (byte offset {exc.start})",
        ) from None


def read_yaml(text: str) -> tuple[Node | None, Any]:
    """The document's node tree and its data; YamlError naming the line otherwise."""
    loader = _Loader(text)
    try:
        node = _Composer(loader).document()
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        raise _marked(exc, text) from None
    except yaml.reader.ReaderError as exc:
        line = text.count("\n", 0, max(exc.position, 0)) + 1
        raise YamlError(line, "a control character that YAML does not allow") from None
    except yaml.YAMLError as exc:  # anything else libyaml says, without a position
        raise YamlError(1, f"invalid YAML: {type(exc).__name__}") from None
    finally:
        loader.dispose()
    return node, data


def _marked(exc: yaml.MarkedYAMLError, text: str) -> YamlError:
    mark = exc.problem_mark or exc.context_mark
    line = mark.line + 1 if mark is not None else 1
    problem = exc.problem or exc.context or "invalid YAML"
    if mark is not None and ("tab" in problem or _char_at(text, mark.line, mark.column) == "\t"):
        return YamlError(line, f"tabs are not allowed for indentation, line {line}: use spaces")
    return YamlError(line, f"invalid YAML: {clip_quoted(problem)}")


def _char_at(text: str, line: int, column: int) -> str:
    start = 0
    for _ in range(line):
        start = text.find("\n", start) + 1
        if start == 0:
            return ""
    return text[start + column : start + column + 1]


@dataclass
class _Open:
    """A collection whose end has not been read yet."""

    node: SequenceNode | MappingNode
    anchor: str | None
    items: list[Node] = field(default_factory=list)
    height: int = 0  # levels below it, aliases expanded
    size: int = 1  # nodes in it, aliases expanded


class _Mark:
    """Where a node starts or ends: its line and column (0-based), all that is read of
    a mark here. libyaml's marks are objects with a dict each: two per node were 2 kB
    of the 3.6 kB a one-line SLO's nodes took while a 10,000-SLO file was read."""

    __slots__ = ("column", "line")

    def __init__(self, line: int, column: int) -> None:
        self.line, self.column = line, column


class _Composer:
    """PyYAML's composer, iterative and bounded (see the module's docstring)."""

    def __init__(self, loader: Any) -> None:
        self.loader = loader
        self._marks: dict[int, _Mark] = {}  # line -> the mark of its first node
        self.anchors: dict[str, tuple[Node, int, int]] = {}  # anchor -> node, height, size
        self.open: list[_Open] = []
        self.root: Node | None = None
        self.nodes = 0
        self.aliases = 0
        self.alias_nodes = 0

    def document(self) -> Node | None:
        loader = self.loader
        loader.get_event()  # the stream's start
        if loader.check_event(StreamEndEvent):
            loader.get_event()
            return None
        loader.get_event()  # the document's start
        self._compose()
        loader.get_event()  # the document's end
        if not loader.check_event(StreamEndEvent):
            event = loader.get_event()
            raise YamlError(
                event.start_mark.line + 1, "a config file holds one YAML document, found another"
            )
        loader.get_event()
        return self.root

    def _compose(self) -> None:
        loader = self.loader
        while not loader.check_event(DocumentEndEvent):
            event = loader.get_event()
            start: Any = self._mark(event.start_mark)
            end: Any = self._mark(event.end_mark)
            line = start.line + 1
            if isinstance(event, ScalarEvent):
                tag = event.tag
                if tag is None or tag == "!":
                    tag = loader.resolve(ScalarNode, event.value, event.implicit)
                node = ScalarNode(tag, event.value, start, end, event.style)
                self.nodes += 1
                self._close(node, event.anchor, 0, 1, line)
            elif isinstance(event, AliasEvent):
                self._alias(event.anchor or "", line)
            elif isinstance(event, SequenceStartEvent | MappingStartEvent):
                kind = SequenceNode if isinstance(event, SequenceStartEvent) else MappingNode
                tag = event.tag
                if tag is None or tag == "!":
                    tag = loader.resolve(kind, None, event.implicit)
                if len(self.open) >= MAX_DEPTH:
                    raise YamlError(line, f"nested deeper than {MAX_DEPTH} levels")
                self._anchor(event.anchor, line)
                collection = kind(tag, [], start, None, flow_style=event.flow_style)
                self.nodes += 1
                self.open.append(_Open(collection, event.anchor))
            elif isinstance(event, StreamStartEvent | DocumentStartEvent | StreamEndEvent):
                raise YamlError(line, "invalid YAML: unexpected start or end of document")
            else:  # the end of a sequence or a mapping
                done = self.open.pop()
                done.node.end_mark = end
                if isinstance(done.node, MappingNode):
                    done.node.value = list(zip(done.items[::2], done.items[1::2], strict=True))
                else:
                    done.node.value = done.items
                self._close(done.node, done.anchor, done.height, done.size, line)

    def _mark(self, mark: Any) -> _Mark:
        """One light mark per line, shared by the nodes on it (libyaml's marks are
        typed apart from PyYAML's)."""
        found = self._marks.get(mark.line)
        if found is None:
            found = self._marks[mark.line] = _Mark(mark.line, mark.column)
        return found

    def _anchor(self, anchor: str | None, line: int) -> None:
        if anchor is not None and (
            anchor in self.anchors or any(o.anchor == anchor for o in self.open)
        ):
            raise YamlError(line, f"anchor {shown(anchor)} is defined twice")

    def _alias(self, anchor: str, line: int) -> None:
        if anchor not in self.anchors:
            if any(o.anchor == anchor for o in self.open):
                raise YamlError(line, f"alias {shown(anchor)} refers to a node that contains it")
            raise YamlError(line, f"alias {shown(anchor)} refers to no anchor defined before it")
        node, height, size = self.anchors[anchor]
        self.aliases += 1
        self.alias_nodes += size
        if self.aliases > MAX_ALIASES:
            raise YamlError(line, f"more than {MAX_ALIASES} aliases in one file")
        if self.alias_nodes > max(MAX_ALIAS_NODES, self.nodes):
            raise YamlError(
                line, f"aliases expand to more than {MAX_ALIAS_NODES} nodes: refused as a YAML bomb"
            )
        if len(self.open) + height >= MAX_DEPTH:
            raise YamlError(line, f"nested deeper than {MAX_DEPTH} levels once aliases expand")
        self._close(node, None, height, size, line)

    def _close(self, node: Node, anchor: str | None, height: int, size: int, line: int) -> None:
        if anchor is not None:
            if isinstance(node, ScalarNode):  # a collection's anchor is checked at its start
                self._anchor(anchor, line)
            self.anchors[anchor] = (node, height, size)
        if not self.open:
            self.root = node
            return
        parent = self.open[-1]
        parent.items.append(node)
        parent.height = max(parent.height, height + 1)
        parent.size += size
