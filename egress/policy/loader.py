"""Reading policy YAML into a `Policy`, with errors that name file, line and field.

ruamel.yaml keeps the line of every key and list item, so a pydantic error location
(`hosts.allow[0].methods[1]`) maps back to the line a reviewer has to fix.
"""

from __future__ import annotations

import contextlib
import types
import typing
from collections.abc import Callable, Collection, Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from egress.policy.compiled import CHECK_SECTIONS, SEMANTIC_CHECKS
from egress.policy.model import Policy
from egress.policy.problems import PolicyError, Problem
from egress.policy.yamlbounds import YAMLLimitError, bounded_yaml

MAX_POLICY_BYTES = 1024**2


def _plain(node: Any) -> Any:
    """ruamel's round-trip types -> plain dict/list/str/int, so pydantic sees ordinary data."""
    if isinstance(node, dict):
        return {str(k) if not isinstance(k, (int, bool)) else k: _plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_plain(v) for v in node]
    if isinstance(node, bool) or node is None:
        return node
    if isinstance(node, int):
        return int(node)
    if isinstance(node, float):
        return float(node)
    if isinstance(node, str):
        return str(node)
    return node


def _line_of(root: Any, loc: Sequence[int | str]) -> int | None:
    """1-based line of the deepest node of `loc` that exists in the YAML tree."""
    node, line = root, getattr(getattr(root, "lc", None), "line", None)
    for part in loc:
        if isinstance(node, CommentedMap) and part in node:
            with contextlib.suppress(KeyError, TypeError, AttributeError):
                line = node.lc.key(part)[0]
            node = node[part]
        elif isinstance(node, CommentedSeq) and isinstance(part, int) and 0 <= part < len(node):
            with contextlib.suppress(KeyError, TypeError, AttributeError):
                line = node.lc.item(part)[0]
            node = node[part]
        else:
            break
    return None if line is None else line + 1


def _field_path(loc: Sequence[int | str]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _model_at(model: type[BaseModel], loc: Sequence[int | str]) -> type[BaseModel] | None:
    """The pydantic model that owns the field at `loc` (to list allowed keys)."""
    current: Any = model
    for part in loc:
        if isinstance(part, int):
            continue
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return None
        field = current.model_fields.get(str(part))
        if field is None:
            return None
        current = _inner_model(field.annotation)
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _inner_model(annotation: Any) -> Any:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _inner_model(typing.get_args(annotation)[0])
    if origin in (list, tuple, dict, typing.Union, types.UnionType) or origin is not None:
        for arg in typing.get_args(annotation):
            found = _inner_model(arg)
            if found is not None:
                return found
    return None


def _message(err: Any, loc: Sequence[int | str], model: type[BaseModel]) -> str:
    kind = err.get("type", "")
    if kind == "extra_forbidden":
        owner = _model_at(model, loc[:-1])
        allowed = ", ".join(owner.model_fields) if owner else ""
        return f"unknown field {loc[-1]!r}" + (f"; allowed fields: {allowed}" if allowed else "")
    if kind == "missing":
        return "required field is missing"
    msg = str(err.get("msg", "invalid value"))
    # pydantic prefixes messages from our validators with "Value error, "
    return msg.removeprefix("Value error, ")


Check = Callable[[Any], list[tuple[tuple[int | str, ...], str]]]


def parse_yaml_model[M: BaseModel](text: str, source: str, model: type[M], checks: Sequence[Check] = (),
                                   what: str = "document",
                                   check_sections: Mapping[Check, Collection[str]] | None = None) -> M:
    """Parse YAML into `model`. Every problem becomes a `Problem` with source, line and field.
    Size, nesting and alias expansion are bounded (`egress.policy.yamlbounds`).

    All problems of a file are reported at once (YAML syntax errors aside): when some top-level
    sections fail schema validation, the checks listed in `check_sections` that read none of
    them still run on the rest of the file."""
    if len(text) > MAX_POLICY_BYTES:
        raise PolicyError([Problem(source, None, "", f"{len(text)} characters; the limit is "
                                   f"{MAX_POLICY_BYTES}")])
    try:
        tree = bounded_yaml().load(text)
    except YAMLLimitError as e:
        raise PolicyError([Problem(source, e.line, "", f"YAML too complex: {e.message}")]) from None
    except RecursionError:
        raise PolicyError([Problem(source, None, "", "YAML too complex: nested too deeply")]) from None
    except MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line = mark.line + 1 if mark is not None else None
        problem = (e.problem or e.context or "invalid YAML").strip()
        raise PolicyError([Problem(source, line, "", f"YAML syntax error: {problem}")]) from None
    except YAMLError as e:
        raise PolicyError([Problem(source, None, "", f"YAML error: {type(e).__name__}")]) from None
    except TypeError:
        # ruamel hashes mapping keys; a nested mapping or list used as a key is unhashable
        raise PolicyError([Problem(source, None, "", "YAML error: a mapping or list used as a "
                                   "key (in a flow mapping, `{{...}}` nests a mapping as a key)")]) from None
    if tree is None:
        tree = CommentedMap()
    if not isinstance(tree, dict):
        raise PolicyError([Problem(source, 1, "", f"a {what} must be a mapping of "
                                   f"{', '.join(model.model_fields)}")])
    data = _plain(tree)
    try:
        value = model.model_validate(data)
    except ValidationError as e:
        problems = []
        failed: set[str] = set()
        for err in e.errors(include_url=False, include_input=False):
            loc = tuple(err["loc"])
            failed.add(str(loc[0]) if loc else "")
            problems.append(Problem(source, _line_of(tree, loc), _field_path(loc),
                                    _message(err, loc, model)))
        problems += _checks_of_valid_sections(tree, source, model, data, failed, checks,
                                              check_sections or {})
        raise PolicyError(sorted(problems, key=lambda p: p.line or 0)) from None
    semantic = _semantic(tree, source, value, checks)
    if semantic:
        raise PolicyError(semantic)
    return value


def _semantic(tree: Any, source: str, value: Any, checks: Sequence[Check]) -> list[Problem]:
    return [Problem(source, _line_of(tree, loc), _field_path(loc), msg)
            for check in checks for loc, msg in check(value)]


def _checks_of_valid_sections(tree: Any, source: str, model: type[BaseModel], data: dict[str, Any],
                              failed: set[str], checks: Sequence[Check],
                              check_sections: Mapping[Check, Collection[str]]) -> list[Problem]:
    """Semantic problems of the sections that passed schema validation: the file is validated
    again with the failed sections left at their defaults, and only the checks that read none
    of the failed sections run on it."""
    runnable = [c for c in checks if c in check_sections and not failed & set(check_sections[c])]
    if not runnable or "" in failed:
        return []
    try:
        partial = model.model_validate({k: v for k, v in data.items() if k not in failed})
    except ValidationError:
        return []  # a cross-section validator failed; its problems are already reported
    return _semantic(tree, source, partial, runnable)


def located(source: str, text: str | bytes, found: Sequence[tuple[Sequence[int | str], str]]) -> PolicyError:
    """A `PolicyError` for problems found after parsing (e.g. a credential source that cannot be
    read), each located at the line of its field in `text`."""
    try:
        tree = bounded_yaml().load(text.decode("utf-8") if isinstance(text, bytes) else text)
    except (YAMLError, UnicodeDecodeError, YAMLLimitError, RecursionError, TypeError):
        tree = None
    return PolicyError([Problem(source, _line_of(tree, loc) if tree is not None else None,
                                _field_path(loc), message) for loc, message in found])


def parse_policy(text: str, source: str = "<policy>",
                 extra_checks: Mapping[Check, Collection[str]] | None = None) -> Policy:
    """Parse and validate policy text. Raises `PolicyError` naming `source`, line and field.
    `extra_checks` (check -> top-level sections it reads) run in the same pass."""
    extra = dict(extra_checks or {})
    return parse_yaml_model(text, source, Policy, [*SEMANTIC_CHECKS, *extra], what="policy",
                            check_sections={**CHECK_SECTIONS, **extra})


def read_bytes(path: str | Path, limit: int = MAX_POLICY_BYTES) -> bytes:
    """A file's bytes (what the policy digest is taken of); every failure is a `PolicyError`
    naming the file."""
    p = Path(path)
    try:
        size = p.stat().st_size
        if size > limit:
            raise PolicyError([Problem(str(p), None, "", f"file is {size} bytes; the limit is {limit}")])
        return p.read_bytes()
    except FileNotFoundError:
        raise PolicyError([Problem(str(p), None, "", "file not found")]) from None
    except IsADirectoryError:
        raise PolicyError([Problem(str(p), None, "", "is a directory, not a file")]) from None
    except PermissionError:
        raise PolicyError([Problem(str(p), None, "", "permission denied")]) from None


def decode_text(raw: bytes, source: str) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise PolicyError([Problem(source, None, "", f"not UTF-8 text (byte {e.start})")]) from None


def read_text(path: str | Path, limit: int = MAX_POLICY_BYTES) -> str:
    """A UTF-8 text file; every failure is a `PolicyError` naming the file."""
    return decode_text(read_bytes(path, limit), str(path))


def load_policy(path: str | Path, extra_checks: Mapping[Check, Collection[str]] | None = None) -> Policy:
    """Read and validate a policy file; every failure is a `PolicyError` naming the file."""
    return parse_policy(read_text(path), str(path), extra_checks)
