"""`idlens people …`: naming and tidying the people Idlens found. Every command is one call into core.people."""
from __future__ import annotations

import datetime
import json
import logging
import os
import sys

import click

from app.cli_common import JSON_SCHEMA, dump_json, padded, printable, say
from core import services
from core.faces.export_format import read_export
from core.faces.portability import export_decisions, import_decisions
from core.wording import plural

log = logging.getLogger(__name__)


def _emit(data) -> None:
    click.echo(dump_json({"schema": JSON_SCHEMA, **data}))


def _confirm(question: str) -> None:
    """Two named people becoming one: asked on a terminal, refused (with the way to confirm) when piped."""
    if not sys.stdin.isatty():
        raise click.UsageError(f"both have names: {question[:-1]} — add --yes to confirm")
    click.confirm(printable(question), abort=True)


def _person_line(p) -> str:
    flags = " (hidden)" if p.hidden else ""
    aliases = f"  also: {', '.join(p.aliases)}" if p.aliases else ""
    return (f"{p.id:5}  {padded(p.label, 30)} {p.media:5} {'file ' if p.media == 1 else 'files'} {p.faces:5} "
            f"{'face ' if p.faces == 1 else 'faces'}{flags}{aliases}")


def _people(obj):
    return obj.library.people


@click.group()
def people():
    """Name, merge, split and review the people found in your photos and videos."""


@people.command(name="list")
@click.option("--all", "show_all", is_flag=True, help="Include hidden people.")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@click.pass_obj
def list_people(obj, show_all, as_json):
    """Named people first, then unnamed groups, biggest first."""
    found = _people(obj).list(include_hidden=show_all)
    if as_json:
        _emit({"people": [p.to_json() for p in found]})
        return
    if not found:
        click.echo("no people yet: index some photos with faces (idlens index PATH)")
    for p in found:
        say(_person_line(p))


@people.command()
@click.argument("pairs", nargs=-1, required=True)
@click.option("--yes", is_flag=True, help="Do not ask when a named person is given another person's name.")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@click.pass_obj
def name(obj, pairs, as_json, yes):
    """Name people: `idlens people name 3 Anna 7 "Ben Okafor"`. A name (or alias) someone already has merges the
    group into them, keeping their spelling; when both already have names, it asks first (--yes does not ask)."""
    if len(pairs) % 2:
        raise click.UsageError("give pairs of ID NAME")
    pe = _people(obj)
    named = []
    for ref, new_name in zip(pairs[::2], pairs[1::2]):
        before = pe.find(ref)
        other = pe.name_taken_by(before.id, new_name)
        if other is not None and before.name and not yes:
            _confirm(f"{before.label} and {other.label} are one person, called {other.label}?")
        p = pe.name(before.id, new_name)
        named.append(p)
        if as_json:
            continue
        if p.id != before.id:
            say(f"{before.label} is {p.label}: merged into them ({plural(p.media, 'file')})")
        else:
            say(f"named {p.id}: {p.label} ({plural(p.media, 'file')})")
    if as_json:
        _emit({"people": [p.to_json() for p in named]})


@people.command()
@click.argument("person_name")
@click.option("--photo", "photo", required=True, type=click.Path(dir_okay=False), help="A photo of them.")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@click.pass_obj
def add(obj, person_name, photo, as_json):
    """Add a person from a reference photo (its largest face)."""
    if not os.path.exists(photo):
        raise click.ClickException(f"no such file: {photo}")
    # a FIFO is never opened
    from core.paths import not_regular
    if why := not_regular(photo):
        raise click.ClickException(why)
    person, face_id = services.add_person_from_photo(obj.creating_library, person_name, photo)
    if as_json:
        _emit({"person": person.to_json(), "face_id": face_id})
    else:
        say(f"{person.label}: {plural(person.media, 'file')}")


@people.command()
@click.argument("target")
@click.argument("source")
@click.option("--yes", is_flag=True, help="Do not ask when both have names.")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@click.pass_obj
def merge(obj, target, source, as_json, yes):
    """SOURCE is the same person as TARGET: SOURCE's faces join TARGET (ids or names), TARGET's name is kept,
    and SOURCE's name, if it had one, stays as an alias of TARGET."""
    pe = _people(obj)
    t, s = pe.find(target), pe.find(source)
    if t.name and s.name and t.id != s.id and not yes:
        _confirm(f"{s.name} and {t.name} are one person, called {t.name} ({s.name} kept as an alias)?")
    p = pe.merge(t.id, s.id)
    if as_json:
        _emit({"person": p.to_json(), "kept": t.label, "merged": s.label})
    else:
        kept = f"; {s.name} is now an alias of {p.label}" if s.name and t.name else ""
        say(f"{s.label} merged into {p.label}: {plural(p.media, 'file')}{kept}")


@people.command()
@click.argument("face_id", type=int)
@click.argument("person")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@click.pass_obj
def move(obj, face_id, person, as_json):
    """This face is PERSON (id or name; a new name creates the person)."""
    p = _people(obj).move(face_id, person)
    _emit({"person": p.to_json()}) if as_json else say(f"face {face_id} is now {p.label}")


@people.command()
@click.argument("face_id", type=int)
@click.argument("person")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@click.pass_obj
def reject(obj, face_id, person, as_json):
    """This face is not PERSON: remembered, it will not come back to them."""
    pe = _people(obj)
    pe.reject(face_id, person)
    p = pe.find(person)
    _emit({"person": p.to_json(), "face_id": face_id}) if as_json else say(f"face {face_id} is not {p.label}")


@people.command()
@click.argument("person")
@click.argument("face_ids", type=int, nargs=-1, required=True)
@click.option("--name", "new_name", help="Name for the new person.")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@click.pass_obj
def split(obj, person, face_ids, new_name, as_json):
    """Move some of PERSON's faces into a new person."""
    p = _people(obj).split(person, list(face_ids), new_name)
    _emit({"person": p.to_json()}) if as_json else say(f"new person {p.id}: {p.label}, {p.faces} faces")


@people.command()
@click.argument("person")
@click.argument("aliases", nargs=-1, required=True)
@click.option("--remove", is_flag=True, help="Remove these aliases instead.")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@click.pass_obj
def alias(obj, person, aliases, remove, as_json):
    """Other names PERSON is found by: `idlens people alias Aleksandra Sasha "Aunt Sasha"`."""
    p = _people(obj).alias(person, list(aliases), remove)
    if as_json:
        _emit({"person": p.to_json()})
    else:
        say(f"{p.label}: " + (f"also {', '.join(p.aliases)}" if p.aliases else "no aliases"))


@people.command()
@click.argument("person")
@click.option("--show", is_flag=True, help="Show a hidden person again.")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@click.pass_obj
def hide(obj, person, show, as_json):
    """Hide a person from the people list (their faces stay)."""
    p = _people(obj).hide(person, not show)
    _emit({"person": p.to_json()}) if as_json else say(f"{p.label} {'shown' if show else 'hidden'}")


@people.command()
@click.argument("person")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@click.pass_obj
def faces(obj, person, as_json):
    """The faces of PERSON, with the ids that move, reject and split take."""
    pe = _people(obj)
    p = pe.find(person)
    found = pe.faces_of(p.id)
    if as_json:
        _emit({"person": p.to_json(), "faces": found})
        return
    for f in found:
        when = f" @ {f['timestamp']:.1f}s" if f["timestamp"] is not None else ""
        named = f"  (from XMP: {f['named_from']})" if f.get("named_from") else ""
        say(f"{f['id']:7}  {'confirmed' if f['confirmed'] else 'auto     '}  {f['path'] or '(reference)'}{when}{named}")


@people.command()
@click.argument("person")
@click.option("-k", "--limit", type=click.IntRange(1, 1000), default=20, show_default=True,
              help="How many faces to show.")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@click.pass_obj
def suggest(obj, person, limit, as_json):
    """Faces that may be PERSON, most likely first: answer with `move FACE PERSON` or `reject FACE PERSON`."""
    review = _people(obj).review(person, limit)
    p, found = review.person, review.suggestions
    if as_json:
        _emit({"person": p.to_json(), "suggestions": [s.to_json() for s in found], "total": review.total})
        return
    if not found:
        say(f"nothing to review for {p.label}")
        return
    say(f"{len(found)} of {review.total} faces that may be {p.label}, most likely first "
        "(compare with the face in brackets, one of theirs):")
    for s in found:
        when = f" @ {s.timestamp:.1f}s" if s.timestamp is not None else ""
        say(f"{s.face_id:7}  {s.similarity:.3f}  {s.path}{when}  [{s.reference_face}]")


@people.command()
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@click.pass_obj
def recluster(obj, as_json):
    """Work out every automatic placement again from your decisions alone (names and decisions stay). Every
    command already places faces by the same rule, so this changes something only after the face thresholds in
    the settings changed."""
    r = _people(obj).recluster()
    data = {"assigned": r.assigned, "moved": r.moved, "released": r.released, "new_groups": r.new_groups,
            "kept_groups": r.kept_groups, "dropped_groups": r.dropped_groups, "unassigned": r.unassigned}
    if as_json:
        _emit(data)
    elif not r.changed and not r.new_groups and not r.dropped_groups:
        click.echo(f"nothing changed: every face is where your decisions put it ({r.kept_groups} unnamed groups)")
    else:
        click.echo(f"{plural(r.assigned, 'face')} joined someone, {r.moved} moved, {r.released} left their person; "
                   f"{r.kept_groups} groups as before, {r.new_groups} new, {r.dropped_groups} gone")


def _decision_line(d) -> str:
    when = datetime.datetime.fromtimestamp(d.at).strftime("%Y-%m-%d %H:%M")
    return f"{d.id:5}  {when}  {d.summary}{'  (undone)' if d.undone else ''}"


@people.command()
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@click.pass_obj
def undo(obj, as_json):
    """Take back the last decision about people (a name, merge, move, "not this person", split, alias, hide,
    reference photo or import), exactly: every face, name and answer it changed is as it was before. Decisions
    made in the app count too."""
    d = _people(obj).undo()
    if as_json:
        _emit({"undone": d.to_json() if d else None})
    elif d is None:
        click.echo("nothing to undo")
    else:
        say(f"undone: {d.summary}")


@people.command()
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@click.pass_obj
def redo(obj, as_json):
    """Make again the decision that was undone last (until a new decision is made)."""
    d = _people(obj).redo()
    if as_json:
        _emit({"redone": d.to_json() if d else None})
    elif d is None:
        click.echo("nothing to redo")
    else:
        say(f"redone: {d.summary}")


@people.command()
@click.option("-n", "--limit", type=click.IntRange(1, 100000), default=20, show_default=True,
              help="How many decisions to list.")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@click.pass_obj
def history(obj, limit, as_json):
    """Your decisions about people, newest first (undone ones can be redone)."""
    found = _people(obj).history(limit)
    if as_json:
        _emit({"decisions": [d.to_json() for d in found]})
        return
    if not found:
        click.echo("no decisions yet")
    for d in found:
        say(_decision_line(d))


@people.command(name="export")
@click.argument("file", type=click.Path(dir_okay=False))
@click.pass_obj
def export_cmd(obj, file):
    """Write names and decisions to a JSON file."""
    data = export_decisions(_people(obj))
    tmp = f"{file}.tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=1, ensure_ascii=True)  # file names need not be valid UTF-8
    os.replace(tmp, file)
    say(f"exported {len(data['people'])} people to {file}", err=True)


@people.command(name="import")
@click.argument("file", type=click.Path(dir_okay=False, exists=True))
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@click.pass_obj
def import_cmd(obj, file, as_json):
    """Apply names and decisions from an export (checked whole first: a malformed file changes nothing)."""
    data = read_export(file)
    lib = obj.creating_library
    stats = import_decisions(lib.people, data, lib.face_backend.dim)
    if as_json:
        _emit(stats)
        return
    click.echo(f"{stats['people']} people: {stats['faces']} faces placed, {stats['rejections']} \"not this person\" "
               f"answers, {stats['joined_after']} more faces joined them here, {stats['unmatched']} faces not in "
               f"this library; {stats['to_review']} faces to review (`idlens people suggest NAME`)")
    if stats["people_not_here"]:
        click.echo(f"{plural(stats['people_not_here'], 'person', 'people')} of the file not imported: none of their "
                   "faces is in this library (index their photos first, then import again)")
