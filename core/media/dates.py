"""When a photo or video was taken: the one rule that browsing, date filters ("from 2019", "in May"), date order and
the front ends follow.

The capture date is the camera's (EXIF DateTimeOriginal, else DateTimeDigitized, else DateTime, for photos; the
container's creation_time for videos), read at indexing into `captured_at`. A file without one (no EXIF, a
screenshot, most videos, a date that cannot be read) is placed by its file date, the modification time, and says so:
`by` is FILE, which the info panel shows as "File date". A file without either (a broken link) has no date.

A capture date is taken as its clock reads, as written: a photo's local time, a video's (UTC) time without its
offset. A file date is the local time of the modification time.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

CAPTURE = "capture"   # from the file's own metadata
FILE = "file"         # the file's modification time, for want of one


@dataclass(frozen=True)
class Taken:
    at: dt.datetime   # naive: compared with the query's dates and used to order by date
    by: str           # CAPTURE or FILE
    text: str         # ISO 8601 as shown and sent: the capture date as stored, or the file date to the second


def taken(captured_at: str | None, mtime_ns: int | None) -> Taken | None:
    """When a file was taken, from its capture date (`captured_at`, ISO 8601) or else its file date (`mtime_ns`,
    nanoseconds since the epoch); None when neither is known."""
    if captured_at:
        try:
            return Taken(dt.datetime.fromisoformat(captured_at).replace(tzinfo=None), CAPTURE, captured_at)
        except ValueError:
            pass  # not a date after all: the file date stands in
    if mtime_ns:
        try:
            at = dt.datetime.fromtimestamp(mtime_ns / 1e9)
        except (OverflowError, OSError, ValueError):  # a time no calendar holds
            return None
        return Taken(at, FILE, at.isoformat(timespec="seconds"))
    return None


def taken_of(media) -> Taken | None:
    """`taken` of a catalog row (anything with `captured_at` and `mtime_ns`)."""
    return taken(media.captured_at, media.mtime_ns)


def newest_first_key(when: Taken | None) -> dt.datetime:
    """Sort key for newest first (with reverse=True): undated files last."""
    return when.at if when else dt.datetime.min
