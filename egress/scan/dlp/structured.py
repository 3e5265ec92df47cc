"""Structured request bodies: JSON, NDJSON, form, XML and SSE bodies parsed once into their
decoded texts, each with the path it sits at, for one scan of them all
(`DLPEngine._scan_structured`).

Why decoded: a secret inside code inside a JSON string arrives with the code's quotes
escaped (`apiKey := \\"897T...\\"`), a form value percent- and plus-encoded, an XML text
behind entities or in CDATA. Rules are written for the text as the program wrote it; the
parser undoes the transport's escaping exactly, so boundaries and prefixes hold.

What one parsed body yields (`Parsed.entries`, in document order):
- every string value, and every number literal as written (a numeric secret is a value
  too), at its path: `json[messages][3][content][0][text]`, `ndjson[4][x]`,
  `form[password]`, `xml[/a/b/secret]`, `xml[/a/@attr]`, `sse[2][data]`;
- every object key and XML tag or attribute name (a key can carry a secret), at the path of
  its member;
- for each key with a scalar value, a *pair*: `"key": "value` as JSON writes it
  (`<tag>value</tag>`, `name="value"`, `key=value`), the value cut at its first line break
  or `PAIR_HEAD` characters, so that keyword rules (`"api_key": "..."`) see the name next
  to its value. The value is an entry of its own as well, so a pair never hides what the
  value alone holds.

The entries are joined with `SEPARATOR`, which no rule can match a character of (checked
by the engine when it is built, `separator_safe`), so no match crosses from one entry to
the next and the scan of the joined text finds exactly what scanning each entry on its own
finds; a hit's offset maps back to its entry's path (bisect).

Hard bounds (a body beyond any of them is not parsed: the engine scans it raw, as every
body was scanned before, never less): `MAX_CHARS` of text, `MAX_DEPTH` levels of nesting,
`MAX_NODES` values, keys and elements, `MAX_SECONDS` of parsing and walking. An XML body
with a DOCTYPE (entity declarations) is never parsed. A body that does not parse cleanly
(invalid JSON, a malformed percent escape, a line of NDJSON that is not JSON) falls back
to the raw scan too.

Conversation-aware parsing: with `Units` (`egress.scan.dlp.blocks`), the JSON walk leaves
out array elements scanned clean before.

Pure: no I/O; the only clock read is the parse time budget.
"""

from __future__ import annotations

import json
import re
import time
import urllib.parse
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from egress.scan.dlp.blocks import Units, strings, unit_key

# Between two entries of the joined text. The NUL is the wall (the engine checks at build
# time that no rule can match it; no decoding layer removes it: it is in no base64, base32
# or hex alphabet, and URL, JSON-escape, HTML and quoted-printable decoding leave it be).
# The line breaks make each entry start and end a line, as a value scanned on its own does
# for rules that look for a line start (`(?m)^`, `(?:^|\n)`).
SEPARATOR = "\n\x00\n"

MAX_CHARS = 32 * 1024 * 1024
MAX_DEPTH = 64
MAX_NODES = 500_000
MAX_SECONDS = 2.0
# Characters of a value kept next to its key in a pair (keyword rules read at most 256).
PAIR_HEAD = 300
# How often (in nodes) the walk looks at the clock.
_CLOCK_EVERY = 4096

JSON_TYPES = frozenset({"application/json", "text/json"})
NDJSON_TYPES = frozenset({"application/x-ndjson", "application/ndjson", "application/jsonl",
                          "application/x-jsonlines", "application/jsonlines", "application/json-seq"})
FORM_TYPE = "application/x-www-form-urlencoded"
XML_TYPES = frozenset({"application/xml", "text/xml"})
SSE_TYPE = "text/event-stream"


class Unstructured(Exception):
    """The body is not parsed (malformed or beyond a bound): the engine scans it raw. The
    message says why, in words free of the body's content."""


@dataclass(slots=True)
class Parsed:
    """A parsed body: its entries (`texts`) and each one's path. Paths are kept as a tree
    (`paths`: parent and segment) and spelled out only for the entries a finding is in."""

    kind: str  # json, ndjson, form, xml, sse
    texts: list[str] = field(default_factory=list)
    # Each entry's path: an index into `paths`.
    at: list[int] = field(default_factory=list)
    # (parent index or -1, segment): a root segment is the label's start, the others are
    # appended as `[segment]`.
    paths: list[tuple[int, str | int]] = field(default_factory=list)
    # The string values alone, in document order (the split scan glues neighbours).
    values: list[str] = field(default_factory=list)
    # Units walked: (first entry, end entry, key, nodes); see `Units`.
    units: list[tuple[int, int, bytes, int]] = field(default_factory=list)
    # Units left out because the caller knew them clean, and the characters of their reprs.
    skipped: int = 0
    skipped_chars: int = 0

    def path(self, parent: int, segment: str | int) -> int:
        self.paths.append((parent, segment))
        return len(self.paths) - 1

    def label(self, entry: int, hide: str = "") -> str:
        """The path of `entry`. A key, tag or field name can itself be the secret (the key
        is scanned too): a segment that holds the matched text `hide`, or that the match
        holds, is shown as `<redacted>`, and an over-long one by its length, so that a
        location never carries what it locates."""
        segments: list[str | int] = []
        at = self.at[entry]
        while at >= 0:
            at, segment = self.paths[at][0], self.paths[at][1]
            segments.append(segment)
        root = str(segments.pop())
        return root + "".join(f"[{_shown(s, hide)}]" for s in reversed(segments))

    @property
    def labels(self) -> list[str]:
        return [self.label(i) for i in range(len(self.texts))]


_SEGMENT_SHOWN = 64


def _shown(segment: str | int, hide: str) -> str | int:
    if isinstance(segment, int):
        return segment
    if hide and len(hide) >= 8 and (hide in segment or (len(segment) >= 8 and segment in hide)):
        return "<redacted>"
    if len(segment) > _SEGMENT_SHOWN:
        return f"<{len(segment)} chars>"
    return segment


def kind_of(media: str, text: str) -> str | None:
    """Which parser a body of media type `media` goes to (None: not structured)."""
    if media in NDJSON_TYPES:
        return "ndjson"
    if media in JSON_TYPES or media.endswith("+json"):
        return "json"
    if media == FORM_TYPE:
        return "form"
    if media in XML_TYPES or media.endswith("+xml"):
        return "xml"
    if media == SSE_TYPE:
        return "sse"
    if not media or media == "text/plain" or media.endswith("json"):
        head = text.lstrip()[:1]
        if head in ("{", "["):
            return "json"
    return None


def parse(text: str, kind: str, where: str, clock: Callable[[], float] = time.perf_counter,
          units: Units | None = None) -> Parsed:
    """The entries of a body of `kind` (see `kind_of`), labelled under `where`; with `units`,
    JSON units known clean left out. Raises `Unstructured` when the body is malformed or
    beyond a bound."""
    if len(text) > MAX_CHARS:
        raise Unstructured(f"larger than {MAX_CHARS} characters")
    walk = _Walk(kind, clock, units)
    if kind == "json":
        walk.json(_load_json(text), walk.out.path(-1, f"{where}.json"), 0)
    elif kind == "ndjson":
        root = walk.out.path(-1, f"{where}.ndjson")
        for i, line in enumerate(text.split("\n")):
            if line.strip():
                walk.json(_load_json(line), walk.out.path(root, i), 1)
    elif kind == "form":
        walk.form(text, f"{where}.form")
    elif kind == "xml":
        walk.xml(text, f"{where}.xml")
    elif kind == "sse":
        walk.sse(text, f"{where}.sse")
    else:
        raise Unstructured(f"no parser for {kind}")
    return walk.out


class _Literal(str):
    """A number as written in the JSON text (`1e5` stays `1e5`)."""

    __slots__ = ()

    def __repr__(self) -> str:
        # Not a string's repr: a unit key must tell the number 123 from the string "123".
        return f"#{str.__str__(self)}"


# One decoder for every body (`json.loads` with hooks would build one per call).
_DECODER = json.JSONDecoder(parse_int=_Literal, parse_float=_Literal, parse_constant=_Literal)


def _load_json(text: str) -> Any:
    try:
        return _DECODER.decode(text)
    except RecursionError:
        raise Unstructured("nested too deep") from None
    except ValueError:
        raise Unstructured("not valid JSON") from None


def _head(value: str) -> tuple[str, bool]:
    """The start of a value for a pair: up to its first line break and `PAIR_HEAD`
    characters; and whether that is the whole value."""
    cut = value.find("\n", 0, PAIR_HEAD)
    if cut < 0:
        cut = min(len(value), PAIR_HEAD)
    return value[:cut], cut == len(value)


class _Walk:
    def __init__(self, kind: str, clock: Callable[[], float], units: Units | None = None) -> None:
        self.out = Parsed(kind)
        self.units = units
        self.clock = clock
        self.deadline = clock() + MAX_SECONDS
        self.nodes = 0

    def _tick(self, nodes: int) -> None:
        if nodes > MAX_NODES:
            raise Unstructured(f"more than {MAX_NODES} nodes")
        if self.clock() > self.deadline:
            raise Unstructured(f"took longer than {MAX_SECONDS} s to parse")

    def _count(self, n: int = 1) -> None:
        before = self.nodes
        self.nodes += n
        if before // _CLOCK_EVERY != self.nodes // _CLOCK_EVERY or self.nodes > MAX_NODES:
            self._tick(self.nodes)

    def _add(self, label: str, text: str) -> None:
        if text:
            self.out.texts.append(text)
            self.out.at.append(self.out.path(-1, label))

    def _value(self, label: str, text: str) -> None:
        self._add(label, text)
        if text:
            self.out.values.append(text)

    def json(self, doc: Any, root: int, depth0: int) -> None:
        """Iterative, in document order (the split scan glues neighbouring values). The hot
        loop of a large body: kept flat on purpose."""
        out = self.out
        texts, at, paths, values = out.texts, out.at, out.paths, out.values
        stack: list[tuple[Any, int, int, str | None]] = [(doc, root, depth0, None)]
        nodes = self.nodes
        units = self.units
        # The units being walked, innermost last: first entry, key, node count at the start,
        # the stack height below which its subtree is done, and its size.
        open_units: list[tuple[int, bytes, int, int, int]] = []
        while stack:
            node, pid, depth, key = stack.pop()
            while open_units and len(stack) < open_units[-1][3]:
                first, ukey, start, _, _ = open_units.pop()
                out.units.append((first, len(texts), ukey, nodes - start))
            nodes += 1
            if nodes % _CLOCK_EVERY == 0:
                self._tick(nodes)
            kind = type(node)
            if kind is str:
                if key is not None:
                    # `_head(node)` inline (a call per keyed string was a fifth of the walk)
                    cut = node.find("\n", 0, PAIR_HEAD)
                    if cut < 0:
                        cut = len(node) if len(node) < PAIR_HEAD else PAIR_HEAD
                    texts.append(f'"{key}": "{node[:cut]}"' if cut == len(node)
                                 else f'"{key}": "{node[:cut]}')
                    at.append(pid)
                if node:
                    texts.append(node)
                    at.append(pid)
                    values.append(node)
                continue
            if kind is _Literal:  # a number as written; not glued by the split scan
                texts.append(f'"{key}": {node}' if key is not None else node)
                at.append(pid)
                continue
            if key:  # the key of an object, array, true, false or null (alone: no pair)
                texts.append(key)
                at.append(pid)
            if kind is dict or kind is list:
                if depth >= MAX_DEPTH:
                    raise Unstructured(f"nested deeper than {MAX_DEPTH}")
                if (units is not None and key is None and depth > depth0
                        and len(open_units) < units.nesting
                        and (not open_units or open_units[-1][4] >= units.nest_min)):
                    ukey, size = unit_key(units.salt, depth, node)
                    if size >= units.min_chars:
                        count = units.known(ukey)
                        if count is not None:
                            # Scanned clean before: its nodes still count against the bound.
                            nodes += count - 1
                            if nodes > MAX_NODES:
                                raise Unstructured(f"more than {MAX_NODES} nodes")
                            out.skipped += 1
                            out.skipped_chars += size
                            if units.values:
                                strings(node, values)
                            continue
                        open_units.append((len(texts), ukey, nodes - 1, len(stack), size))
            if kind is dict:
                items = []
                for k, v in node.items():
                    items.append((v, len(paths), depth + 1, k))
                    paths.append((pid, k))
                stack.extend(reversed(items))
            elif kind is list:
                base = len(paths)
                paths.extend((pid, i) for i in range(len(node)))
                stack.extend((node[i], base + i, depth + 1, None) for i in range(len(node) - 1, -1, -1))
        while open_units:
            first, ukey, start, _, _ = open_units.pop()
            out.units.append((first, len(texts), ukey, nodes - start))
        self.nodes = nodes
        if nodes > MAX_NODES:
            raise Unstructured(f"more than {MAX_NODES} nodes")

    def form(self, text: str, root: str) -> None:
        for piece in text.split("&"):
            self._count()
            if not piece:
                continue
            name, eq, value = piece.partition("=")
            key = _form_unquote(name)
            val = _form_unquote(value)
            label = f"{root}[{key}]"
            # As the old form scan did: each field as `key=value`, which holds the key too.
            self._add(label, f"{key}={val}" if eq else key)
            if eq and val:
                self.out.values.append(val)

    def xml(self, text: str, root: str) -> None:
        if "<!DOCTYPE" in text.upper() or "<!ENTITY" in text.upper():
            raise Unstructured("XML with a DOCTYPE")
        try:
            element = ET.fromstring(text)
        except (ET.ParseError, ValueError, RecursionError):
            raise Unstructured("not well-formed XML") from None
        stack: list[tuple[ET.Element, str, int]] = [(element, "", 0)]
        while stack:
            node, parent, depth = stack.pop()
            self._count()
            if depth >= MAX_DEPTH:
                raise Unstructured(f"nested deeper than {MAX_DEPTH}")
            tag = _local(node.tag)
            path = f"{parent}/{tag}"
            label = f"{root}[{path}]"
            self._add(label, tag)
            for name, value in node.attrib.items():
                self._count()
                attr = f"{root}[{path}/@{_local(name)}]"
                self._add(attr, name)
                self._add(attr, f'{name}="{_head(value)[0]}"')
                self._value(attr, value)
            body = node.text or ""
            if body.strip():
                head, whole = _head(body)
                self._add(label, f"<{tag}>{head}" + (f"</{tag}>" if whole else ""))
                self._value(label, body)
            for child in reversed(list(node)):
                stack.append((child, path, depth + 1))
            if node.tail and node.tail.strip():
                # Text after an element belongs to its parent.
                self._value(f"{root}[{parent or '/'}]", node.tail)

    def sse(self, text: str, root: str) -> None:
        event = 0
        data: list[str] = []

        def flush() -> None:
            if not data:
                return
            joined = "\n".join(data)
            label = f"{root}[{event}][data]"
            head = joined.lstrip()[:1]
            if head in ("{", "["):
                try:
                    self.json(_load_json(joined), self.out.path(-1, label), 1)
                    return
                except Unstructured:
                    pass
            self._value(label, joined)

        for line in text.replace("\r\n", "\n").split("\n"):
            self._count()
            if not line:
                flush()
                data = []
                event += 1
                continue
            name, colon, value = line.partition(":")
            value = value.removeprefix(" ")
            if colon and name == "data":
                data.append(value)
            else:
                # Every other line whole (`event:`, `id:`, comments, lines without a colon).
                self._value(f"{root}[{event}][{name or 'comment'}]", line)
        flush()


def _local(tag: str) -> str:
    return tag.rpartition("}")[2] if tag.startswith("{") else tag


_PCT_BAD = re.compile(r"%(?![0-9A-Fa-f]{2})")


def _form_unquote(text: str) -> str:
    """`application/x-www-form-urlencoded` decoding, strict: a `%` not followed by two hex
    digits, or bytes that are not UTF-8, make the body unstructured (scanned raw)."""
    if "%" in text and _PCT_BAD.search(text):
        raise Unstructured("malformed percent escape")
    try:
        return urllib.parse.unquote_plus(text, errors="strict")
    except UnicodeDecodeError:
        raise Unstructured("percent escapes that are not UTF-8") from None


# -- the raw forms of a decoded fragment -------------------------------------------------------

def raw_forms(raw: str, fragment: str, kind: str, limit: int = 16) -> list[str]:
    """The texts `fragment` (decoded) is written as in the raw body of `kind`: each
    character literal or escaped as that format escapes it. Used only for fragments found,
    so that artefacts are scrubbed and a redaction placed in the body as it is."""
    if not fragment or len(fragment) > 4096:
        return []
    alternatives = {"json": _json_char, "ndjson": _json_char, "sse": _json_char,
                    "form": _form_char, "xml": _xml_char}.get(kind)
    if alternatives is None:
        return []
    pattern = re.compile("".join(alternatives(c) for c in fragment))
    return list(dict.fromkeys(m.group() for m in _first(pattern.finditer(raw), limit) if m.group()))


def _first(items: Iterator[re.Match[str]], n: int) -> Iterator[re.Match[str]]:
    for i, item in enumerate(items):
        if i >= n:
            return
        yield item


def _hex_ci(code: int, width: int) -> str:
    return "".join(f"[{d.lower()}{d.upper()}]" if d.isalpha() else d for d in f"{code:0{width}x}")


_JSON_SHORT = {"\n": "n", "\t": "t", "\r": "r", "\b": "b", "\f": "f", '"': '"', "\\": "\\\\", "/": "/"}


def _json_char(c: str) -> str:
    options = [re.escape(c)]
    if ord(c) <= 0xFFFF:
        options.append(r"\\u" + _hex_ci(ord(c), 4))
    if c in _JSON_SHORT:
        options.append(r"\\" + (_JSON_SHORT[c] if c != '"' else '"'))
    return "(?:" + "|".join(options) + ")"


def _form_char(c: str) -> str:
    encoded = "".join("%" + _hex_ci(b, 2) for b in c.encode("utf-8", "surrogatepass"))
    options = [re.escape(c), encoded] + (["\\+"] if c == " " else [])
    return "(?:" + "|".join(options) + ")"


_XML_NAMED = {"&": "amp", "<": "lt", ">": "gt", '"': "quot", "'": "apos"}


def _xml_char(c: str) -> str:
    options = [re.escape(c), f"&#0*{ord(c)};", f"&#[xX]0*{_hex_ci(ord(c), 1)};"]
    if c in _XML_NAMED:
        options.append(f"&{_XML_NAMED[c]};")
    return "(?:" + "|".join(options) + ")"
