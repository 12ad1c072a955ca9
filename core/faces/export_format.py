"""The people export file (`idlens people export`), read defensively: an import file may come from anywhere, so it is
checked whole — every type, every number finite, every descriptor of this library's length, sizes bounded — before
anything is written. A file that fails is refused with where and why ("people[2].faces[0].box: 4 numbers, not 2")
and changes nothing.

What `validated` returns is the file in one plain shape (see `Ref` and `PersonIn`), names cleaned as typed names are
(core.names), so that the import itself never needs to guess.
"""
from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field

import numpy as np

from core import names
from core.paths import not_regular

from .views import PeopleError

EXPORT_SCHEMA = 1
KIND = "idlens-people"

# Far above any real export (a named face with its 128-d descriptor is about 1.5 kB of JSON: 64 MB is ~40,000
# confirmed faces), low enough that reading one never takes more than a few hundred MB.
MAX_FILE_BYTES = 64 * 1024 * 1024
MAX_PEOPLE = 100_000
MAX_FACES = 1_000_000        # face references in the whole file
MAX_ALIASES = 100            # per person
MAX_TEXT = 16_384            # characters in a path, a fingerprint or a source


@dataclass
class Ref:
    """One face of an export: in a library file (fingerprint, path, time in a video, box), or a reference photo from
    outside any library (no fingerprint: its descriptor is all there is)."""
    box: tuple[float, float, float, float]
    fingerprint: str | None = None
    path: str | None = None
    timestamp: float | None = None
    embedding: np.ndarray | None = None
    confirmed: bool = True
    source: str | None = None
    named_from: str | None = None  # the other app whose XMP named it ("digiKam sidecar"); None: named in Idlens


@dataclass
class PersonIn:
    name: str
    hidden: bool = False
    aliases: list[str] = field(default_factory=list)
    faces: list[Ref] = field(default_factory=list)
    rejected: list[Ref] = field(default_factory=list)


def read_export(path: str) -> dict:
    """The JSON of an export file, or PeopleError: not a regular file (a FIFO would block), too large, not UTF-8,
    not JSON, nested too deeply."""
    special = not_regular(path)
    if special:
        raise PeopleError(special)
    try:
        size = os.path.getsize(path)
        if size > MAX_FILE_BYTES:
            raise PeopleError(f"{path} is {size / 1e6:.0f} MB: an Idlens people export is at most "
                              f"{MAX_FILE_BYTES // (1024 * 1024)} MB")
        with open(path, "rb") as f:
            raw = f.read(MAX_FILE_BYTES + 1)  # the file may grow while it is read
    except OSError as e:
        raise PeopleError(f"cannot read {path}: {e.strerror or e}") from e
    if len(raw) > MAX_FILE_BYTES:
        raise PeopleError(f"{path} is larger than {MAX_FILE_BYTES // (1024 * 1024)} MB")
    try:
        return json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as e:
        raise PeopleError(f"{path} is not an Idlens people export: not UTF-8 text (byte {e.start})") from e
    except ValueError as e:
        raise PeopleError(f"{path} is not JSON: {e}") from e
    except RecursionError as e:
        raise PeopleError(f"{path} is not an Idlens people export: its JSON is nested too deeply") from e


class _Bad(Exception):
    def __init__(self, where: str, why: str):
        super().__init__(f"{where}: {why}")


def _kind(value) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "true/false", type(None): "null",
            int: "a number", float: "a number"}.get(type(value), type(value).__name__)


def _number(value, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _Bad(where, f"must be a number, not {_kind(value)}")
    try:
        value = float(value)
    except OverflowError:  # an integer with hundreds of digits
        value = math.inf
    if not math.isfinite(value):
        raise _Bad(where, "must be a finite number")
    return value


def _text(value, where: str, optional: bool = True) -> str | None:
    if value is None and optional:
        return None
    if not isinstance(value, str):
        raise _Bad(where, f"must be a string, not {_kind(value)}")
    if len(value) > MAX_TEXT:
        raise _Bad(where, f"is {len(value)} characters long (at most {MAX_TEXT})")
    return value


def _list(value, where: str, limit: int) -> list:
    if value is None:
        return []
    if not isinstance(value, list):
        raise _Bad(where, f"must be a list, not {_kind(value)}")
    if len(value) > limit:
        raise _Bad(where, f"has {len(value)} entries (at most {limit})")
    return value


def _name(value, where: str) -> str:
    if not isinstance(value, str):
        raise _Bad(where, f"must be a string, not {_kind(value)}")
    try:
        name = names.clean(value)
    except names.BadName as e:
        raise _Bad(where, str(e)) from e
    if not names.has_letter(name):
        raise _Bad(where, f"{value!r} has no letter: not a name")
    return name


def _ref(value, where: str, dim: int, in_library: bool) -> Ref:
    if not isinstance(value, dict):
        raise _Bad(where, f"must be an object, not {_kind(value)}")
    box = value.get("box")
    if not isinstance(box, list) or len(box) != 4:
        raise _Bad(f"{where}.box", f"must be 4 numbers (x, y, width, height), not "
                                   f"{len(box) if isinstance(box, list) else _kind(box)}")
    x, y, w, h = (_number(v, f"{where}.box[{i}]") for i, v in enumerate(box))
    if w < 0 or h < 0:
        raise _Bad(f"{where}.box", "width and height cannot be negative")
    embedding = value.get("embedding")
    vec = None
    if embedding is not None or not in_library:
        if not isinstance(embedding, list):
            raise _Bad(f"{where}.embedding", f"must be a list of {dim} numbers, not {_kind(embedding)}")
        if len(embedding) != dim:
            raise _Bad(f"{where}.embedding", f"has {len(embedding)} numbers; this library's face descriptors "
                                             f"have {dim}")
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in embedding):
            raise _Bad(f"{where}.embedding", "must hold only numbers")
        try:
            with np.errstate(over="ignore"):  # beyond float32: inf, refused below
                vec = np.asarray(embedding, dtype=np.float64).astype(np.float32)
        except OverflowError:
            vec = np.full(dim, np.inf, np.float32)
        if not np.isfinite(vec).all() or not np.any(vec):
            raise _Bad(f"{where}.embedding", "must be finite numbers, not all zero")
    fingerprint = _text(value.get("fingerprint"), f"{where}.fingerprint")
    if in_library and fingerprint is None:
        raise _Bad(f"{where}.fingerprint", "missing: a face in a library file needs the file's fingerprint")
    timestamp = value.get("timestamp")
    confirmed = value.get("confirmed", True)
    if not isinstance(confirmed, bool):
        raise _Bad(f"{where}.confirmed", f"must be true or false, not {_kind(confirmed)}")
    return Ref(box=(x, y, w, h), fingerprint=fingerprint, path=_text(value.get("path"), f"{where}.path"),
               timestamp=None if timestamp is None else _number(timestamp, f"{where}.timestamp"),
               embedding=vec, confirmed=confirmed, source=_text(value.get("source"), f"{where}.source"),
               named_from=_text(value.get("named_from"), f"{where}.named_from"))


def validated(data, dim: int) -> list[PersonIn]:
    """The people of an export, checked whole (see the module's notes), or PeopleError saying where it is wrong.
    `dim`: the length of this library's face descriptors."""
    if not isinstance(data, dict) or data.get("kind") != KIND:
        raise PeopleError("not an Idlens people export (no \"kind\": \"idlens-people\")")
    schema = data.get("schema", 0)
    if isinstance(schema, bool) or not isinstance(schema, int):
        raise PeopleError(f"not an Idlens people export: schema must be a number, not {_kind(schema)}")
    if schema > EXPORT_SCHEMA:
        raise PeopleError(f"an export from a newer Idlens (schema {schema}; this one reads {EXPORT_SCHEMA}): "
                          "update Idlens to import it")
    try:
        people = _list(data.get("people"), "people", MAX_PEOPLE)
        out, refs = [], 0
        for i, p in enumerate(people):
            where = f"people[{i}]"
            if not isinstance(p, dict):
                raise _Bad(where, f"must be an object, not {_kind(p)}")
            hidden = p.get("hidden", False)
            if not isinstance(hidden, bool):
                raise _Bad(f"{where}.hidden", f"must be true or false, not {_kind(hidden)}")
            person = PersonIn(_name(p.get("name"), f"{where}.name"), hidden)
            for j, a in enumerate(_list(p.get("aliases"), f"{where}.aliases", MAX_ALIASES)):
                person.aliases.append(_name(a, f"{where}.aliases[{j}]"))
            for key, in_library in (("faces", False), ("rejected", True)):
                listed = _list(p.get(key), f"{where}.{key}", MAX_FACES)
                refs += len(listed)
                if refs > MAX_FACES:
                    raise _Bad(where, f"the file holds more than {MAX_FACES} faces")
                for j, r in enumerate(listed):
                    # a face of `faces` with no fingerprint is a reference photo: its descriptor is required
                    in_lib = in_library or (isinstance(r, dict) and r.get("fingerprint") is not None)
                    getattr(person, key).append(_ref(r, f"{where}.{key}[{j}]", dim, in_lib))
            out.append(person)
    except _Bad as e:
        raise PeopleError(f"not a valid Idlens people export, nothing imported: {e}") from None
    return out
