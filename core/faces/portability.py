"""Names and decisions as JSON, portable across libraries, disks and re-detection: faces are identified by the
file's content fingerprint, the time in a video and the box, not by ids that mean nothing elsewhere."""
from __future__ import annotations

import logging
from collections import Counter

import numpy as np

from core import names

from . import clustering
from .export_format import EXPORT_SCHEMA, KIND, PersonIn, Ref, validated
from .people import People

log = logging.getLogger(__name__)


def _face_ref(row: dict) -> dict:
    embedding = [round(float(v), 6) for v in row["embedding"]]
    if row["fingerprint"] is None:  # a reference photo outside the library: its descriptor is the only thing to carry
        return {"source": row["source"], "embedding": embedding, "box": [row["x"], row["y"], row["w"], row["h"]]}
    ref = {"fingerprint": row["fingerprint"], "path": row["path"], "timestamp": row["timestamp"],
           "box": [round(v, 1) for v in (row["x"], row["y"], row["w"], row["h"])], "embedding": embedding,
           "confirmed": row["confirmed"]}
    if row.get("named_from"):  # the name came from another app's XMP (core.faces.regions)
        ref["named_from"] = row["named_from"]
    return ref


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
    return {"schema": EXPORT_SCHEMA, "kind": KIND, "people": out}


def import_decisions(people: People, data, dim: int) -> dict:
    """Apply an export to this library as one decision (undone by one undo): names, aliases, hidden flags, the
    faces the user confirmed, "not this person" answers. The file is checked whole first (core.faces.export_format):
    a malformed one changes nothing. `dim`: this library's face descriptor length.

    A face is found in this library by the file's content and its place in it. A person of the file is found here by
    their faces first — the named person most of their confirmed faces are confirmed to here, so a person renamed or
    merged here since the export is still them — then by name, then by alias; a new person is made only for one who
    brings a face. Faces the other library placed automatically are not imported as placements: here, as
    everywhere, the one rule places them from the confirmed faces (core.faces.rule); what it does not place is
    left for review, and counted. Faces not (yet) in this library are counted as unmatched; importing twice
    changes nothing, and a decision this library's user made stands."""
    incoming = validated(data, dim)
    catalog, faces = people.catalog, people.faces
    catalog.backup("before-import")
    stats = {"people": 0, "faces": 0, "rejections": 0, "unmatched": 0, "people_not_here": 0}
    imported: list[int] = []

    def match(ref: Ref) -> int | None:
        media_id = catalog.media.by_fingerprint(ref.fingerprint, ref.path)
        if media_id is None:
            return None
        return clustering.same_place(faces.boxes_in_media(media_id), list(ref.box), ref.timestamp)

    references = [(pid, v) for pid, v in faces.reference_faces() if pid is not None and people.rows.name_of(pid)]

    def found_here(person: PersonIn) -> int | None:
        votes: Counter[int] = Counter()
        for ref in person.faces:
            if ref.fingerprint is None and ref.embedding is not None:  # a reference photo's face, the same one here
                votes.update(pid for pid, v in references if v.shape == ref.embedding.shape
                             and np.allclose(v, ref.embedding, atol=1e-5))
                continue
            fid = match(ref) if ref.fingerprint is not None and ref.confirmed else None
            here = faces.get(fid) if fid is not None else None
            if here is not None and here["confirmed"] and here["person_id"] is not None \
                    and people.rows.name_of(here["person_id"]):
                votes[here["person_id"]] += 1
        if votes:
            return votes.most_common(1)[0][0]
        pid = people.rows.id_by_name(person.name)
        return pid if pid is not None else people.rows.id_by_alias(person.name)

    def brings_a_face(person: PersonIn) -> bool:
        return any(r.fingerprint is None or (r.confirmed and match(r) is not None) for r in person.faces)

    before = faces.placed_with_named()
    with people.deciding("import", "importing names") as made:
        for person in incoming:
            pid = found_here(person)
            if pid is None:
                if not brings_a_face(person):
                    stats["people_not_here"] += 1  # none of their faces is in this library: no empty person
                    stats["unmatched"] += sum(1 for r in person.faces if r.confirmed) + len(person.rejected)
                    continue
                pid = people.rows.create(person.name)
                people.rows.set_hidden(pid, person.hidden)  # on someone of this library, their own choice stands
            stats["people"] += 1
            imported.append(pid)
            here_name = people.rows.name_of(pid) or person.name
            for alias in person.aliases:
                owner = people.rows.id_by_name(alias)
                owner = owner if owner is not None else people.rows.id_by_alias(alias)
                if owner in (None, pid) and names.key(alias) != names.key(here_name):
                    people.rows.add_alias(pid, alias)
            for ref in person.faces:
                if ref.fingerprint is None:  # a reference photo from outside any library: its descriptor
                    vec = ref.embedding
                    assert vec is not None, "validated: a reference photo comes with its descriptor"
                    if any(np.allclose(k, vec, atol=1e-5) for k in faces.reference_embeddings(pid)):
                        stats["faces"] += 1  # there already: placed, the same as the first time
                        continue
                    x, y, w, h = ref.box
                    faces.add(media_id=None, frame_id=None, track_id=None, timestamp=None, box=(x, y, w, h),
                              landmarks=np.zeros(10), score=1.0, size=min(w, h), sharpness=100.0, usable=True,
                              embedding=vec, backend="import", person_id=pid, confirmed=True, source=ref.source)
                    stats["faces"] += 1
                    continue
                if not ref.confirmed:
                    continue  # placed automatically there: here the rule decides
                fid = match(ref)
                if fid is None:
                    stats["unmatched"] += 1
                    continue
                here = faces.get(fid)
                if here is None or pid in faces.rejected_people(fid) or (
                        here["confirmed"] and here["person_id"] not in (None, pid)):
                    continue  # this library's user said otherwise: their word stands
                if not (here["confirmed"] and here["person_id"] == pid):  # else so already, where it came from kept
                    faces.confirm([fid], pid, named_from=ref.named_from)
                stats["faces"] += 1
            for ref in person.rejected:
                fid = match(ref)
                if fid is None:
                    stats["unmatched"] += 1
                    continue
                here = faces.get(fid)
                if here is None or (here["confirmed"] and here["person_id"] == pid):
                    continue  # confirmed as them here: this library's user said so
                faces.reject(fid, pid)
                stats["rejections"] += 1
        made.summary = f"imported {stats['people']} {'person' if stats['people'] == 1 else 'people'}"
        made.people = [{"id": pid, "name": people.rows.name_of(pid)} for pid in imported]
    after = faces.placed_with_named()
    stats["joined_after"] = len(after - before)
    stats["to_review"] = sum(people.review(pid, 1).total for pid in imported)
    return stats
