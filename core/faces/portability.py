"""Names and decisions as JSON, portable across libraries, disks and re-detection: faces are identified by the
file's content fingerprint, the time in a video and the box, not by ids that mean nothing elsewhere."""
from __future__ import annotations

import logging
import numpy as np

from core import names

from . import clustering
from .people import People, PeopleError

log = logging.getLogger(__name__)

EXPORT_SCHEMA = 1


def _face_ref(row: dict) -> dict:
    embedding = [round(float(v), 6) for v in row["embedding"]]
    if row["fingerprint"] is None:  # a reference photo outside the library: its descriptor is the only thing to carry
        return {"source": row["source"], "embedding": embedding, "box": [row["x"], row["y"], row["w"], row["h"]]}
    return {"fingerprint": row["fingerprint"], "path": row["path"], "timestamp": row["timestamp"],
            "box": [round(v, 1) for v in (row["x"], row["y"], row["w"], row["h"])], "embedding": embedding,
            "confirmed": row["confirmed"]}


def export_decisions(people: People) -> dict:
    """Named people whole: every face of theirs (the ones the user confirmed, and the ones placed automatically,
    marked `confirmed: false`), each with its descriptor; their aliases; the faces they were said not to be."""
    faces = people.faces
    out = []
    aliases = people.rows.all_aliases()
    for pid, name, hidden in people.rows.named():
        out.append({"name": name, "hidden": hidden, "aliases": aliases.get(pid, []),
                    "faces": [_face_ref(r) for r in faces.person_refs(pid)],
                    "rejected": [_face_ref(r) for r in faces.rejected_refs(pid) if r["fingerprint"] is not None]})
    return {"schema": EXPORT_SCHEMA, "kind": "idlens-people", "people": out}


def import_decisions(people: People, data: dict) -> dict:
    """Apply an export to this library as one decision (undone by one undo): names, aliases, hidden flags, the
    faces the user confirmed, "not this person" answers. A face is found in this library by the file's content
    and its place in it. Faces the other library placed automatically are not imported as placements: here, as
    everywhere, the one rule places them from the confirmed faces (core.faces.rule); what it does not place is
    left for review, and counted. Faces not (yet) in this library are counted as unmatched; importing twice
    changes nothing, and a decision this library's user made stands."""
    if not isinstance(data, dict) or data.get("kind") != "idlens-people" or data.get("schema", 0) > EXPORT_SCHEMA:
        raise PeopleError("not an Idlens people export (or one from a newer Idlens)")
    catalog, faces = people.catalog, people.faces
    catalog.backup("before-import")
    stats = {"people": 0, "faces": 0, "rejections": 0, "unmatched": 0}
    imported: list[int] = []

    def match(ref) -> int | None:
        media_id = catalog.media.by_fingerprint(ref.get("fingerprint"), ref.get("path"))
        if media_id is None:
            return None
        return clustering.same_place(faces.boxes_in_media(media_id), ref["box"], ref.get("timestamp"))

    before = faces.placed_with_named()
    with people.deciding("import", "importing names") as made:
        for person in data.get("people", []):
            name = names.clean(str(person.get("name", "")))
            if not names.has_letter(name):
                continue
            pid = people.rows.id_by_name(name)
            if pid is None:
                pid = people.rows.id_by_alias(name)  # renamed here since the export: the alias is them
            if pid is None:
                pid = people.rows.create(name)
            stats["people"] += 1
            imported.append(pid)
            people.rows.set_hidden(pid, bool(person.get("hidden")))
            for alias in person.get("aliases", []):
                alias = names.clean(str(alias))
                owner = people.rows.id_by_name(alias)
                owner = owner if owner is not None else people.rows.id_by_alias(alias)
                if names.has_letter(alias) and owner in (None, pid) and names.key(alias) != names.key(name):
                    people.rows.add_alias(pid, alias)
            for ref in person.get("faces", []):
                if "fingerprint" not in ref and "embedding" in ref:
                    vec = np.asarray(ref["embedding"], dtype=np.float32)
                    if any(np.allclose(k, vec, atol=1e-5) for k in faces.reference_embeddings(pid)):
                        stats["faces"] += 1  # there already: placed, the same as the first time
                        continue
                    x, y, w, h = ref.get("box", (0, 0, 0, 0))
                    faces.add(media_id=None, frame_id=None, track_id=None, timestamp=None, box=(x, y, w, h),
                              landmarks=np.zeros(10), score=1.0, size=min(w, h), sharpness=100.0, usable=True,
                              embedding=vec, backend="import", person_id=pid, confirmed=True,
                              source=ref.get("source"))
                    stats["faces"] += 1
                    continue
                if not ref.get("confirmed", True):
                    continue  # placed automatically there: here the rule decides
                fid = match(ref)
                if fid is None:
                    stats["unmatched"] += 1
                    continue
                here = faces.get(fid)
                if pid in faces.rejected_people(fid) or (here["confirmed"] and here["person_id"] not in (None, pid)):
                    continue  # this library's user said otherwise: their word stands
                faces.confirm([fid], pid)
                stats["faces"] += 1
            for ref in person.get("rejected", []):
                fid = match(ref)
                if fid is None:
                    stats["unmatched"] += 1
                    continue
                faces.reject(fid, pid)
                here = faces.get(fid)
                if here["person_id"] == pid and here["confirmed"]:
                    faces.unconfirm([fid])
                stats["rejections"] += 1
        made.summary = f"imported {stats['people']} {'person' if stats['people'] == 1 else 'people'}"
        made.people = [{"id": pid, "name": people.rows.name_of(pid)} for pid in imported]
    after = faces.placed_with_named()
    stats["joined_after"] = len(after - before)
    stats["to_review"] = sum(people.review(pid, 1).total for pid in imported)
    return stats
