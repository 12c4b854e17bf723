"""Reading a pushed message, XML or JSON (a mini-program's 消息推送 may be set to either), into
a small tree of strings, refusing what WeChat never sends: a DTD or entity declarations (so no
entity expansion, internal or external), deep nesting, too many elements."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from xml.parsers import expat

MAX_DEPTH = 5  # <xml><SubscribeMsgPopupEvent><List><TemplateId> is 4
MAX_ELEMENTS = 500
MAX_TEXT = 4096

Tree = dict[str, Any]  # values: str, Tree, or a list of them (repeated elements)


class BadMessage(Exception):
    """Not a message cdp can read; the text names no value from it."""


@dataclass(frozen=True, slots=True)
class PushMessage:
    """What every push carries, and the whole tree for the event's own fields."""

    to_user: str
    from_user: str
    create_time: int
    msg_type: str
    event: str | None
    tree: Tree

    def text(self, name: str) -> str | None:
        value = self.tree.get(name)
        return value.strip() if isinstance(value, str) and value.strip() else None


class _Builder:
    def __init__(self) -> None:
        self.stack: list[tuple[str, Tree, list[str]]] = []
        self.root: Tree | None = None
        self.elements = 0

    def start(self, name: str, _attrs: dict[str, str]) -> None:
        self.elements += 1
        if self.elements > MAX_ELEMENTS or len(self.stack) >= MAX_DEPTH:
            raise BadMessage("the XML nests too deep or has too many elements")
        self.stack.append((name, {}, []))

    def end(self, name: str) -> None:
        _, children, text = self.stack.pop()
        value: str | Tree = children if children else "".join(text)
        if not self.stack:
            self.root = children if children else {}
            return
        parent = self.stack[-1][1]
        if name in parent:
            existing = parent[name]
            parent[name] = [*existing, value] if isinstance(existing, list) else [existing, value]
        else:
            parent[name] = value

    def data(self, text: str) -> None:
        if self.stack:
            buffer = self.stack[-1][2]
            buffer.append(text)
            if sum(map(len, buffer)) > MAX_TEXT:
                raise BadMessage("an XML element's text is too long")


def _refuse(*_args: Any) -> None:
    raise BadMessage("the XML declares a DTD or entities, which WeChat never sends")


def parse_xml(body: bytes) -> Tree:
    """The children of the root element as a tree; BadMessage for anything else."""
    builder = _Builder()
    parser = expat.ParserCreate()
    parser.StartElementHandler = builder.start
    parser.EndElementHandler = builder.end
    parser.CharacterDataHandler = builder.data
    parser.StartDoctypeDeclHandler = _refuse
    parser.EntityDeclHandler = _refuse
    parser.UnparsedEntityDeclHandler = _refuse
    parser.ExternalEntityRefHandler = _refuse  # type: ignore[assignment]
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    try:
        parser.Parse(body, True)
    except expat.ExpatError:
        raise BadMessage("the body is not well-formed XML") from None
    if builder.root is None:
        raise BadMessage("the body is not well-formed XML")
    return builder.root


def _json_tree(value: Any, depth: int = 0) -> Any:
    if depth > MAX_DEPTH:
        raise BadMessage("the JSON nests too deep")
    if isinstance(value, dict):
        return {str(k): _json_tree(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_tree(v, depth + 1) for v in value]
    if isinstance(value, bool) or value is None:
        return "" if value is None else str(value).lower()
    if isinstance(value, int | float | str):
        return str(value)
    raise BadMessage("the JSON holds a value WeChat never sends")


def parse_json(body: bytes) -> Tree:
    def no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        keys = [k for k, _ in pairs]
        if len(keys) != len(set(keys)):
            raise BadMessage("the JSON repeats a key")
        return dict(pairs)

    try:
        value = json.loads(body.decode("utf-8"), object_pairs_hook=no_duplicates)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        raise BadMessage("the body is not JSON") from None
    if not isinstance(value, dict):
        raise BadMessage("the body must be a JSON object")
    tree: Tree = _json_tree(value)
    return tree


def is_json(body: bytes) -> bool:
    return body.lstrip()[:1] == b"{"


def parse_body(body: bytes) -> Tree:
    """XML or JSON, told apart by the first character (WeChat sends no other)."""
    return parse_json(body) if is_json(body) else parse_xml(body)


def message_of(tree: Tree) -> PushMessage:
    """The message's common fields; BadMessage when one is missing or malformed."""

    def required(name: str) -> str:
        value = tree.get(name)
        if not isinstance(value, str) or not value.strip() or len(value) > 128:
            raise BadMessage(f"{name} is missing or malformed")
        return value.strip()

    created = required("CreateTime")
    if not created.isdigit() or len(created) > 12:
        raise BadMessage("CreateTime is not a Unix time")
    event = tree.get("Event")
    return PushMessage(
        to_user=required("ToUserName"),
        from_user=required("FromUserName"),
        create_time=int(created),
        msg_type=required("MsgType").lower(),
        event=event.strip() if isinstance(event, str) and event.strip() else None,
        tree=tree,
    )
