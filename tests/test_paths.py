"""One rule for "this path is that folder or inside it" (core.paths), and the catalog's SQL answering the same."""
import os

import pytest

from core.paths import inside_range, is_inside, is_under, is_under_any, outermost
from core.store import Catalog

LATIN1 = os.fsdecode(b"/photos/caf\xe9")      # not valid UTF-8: carried as a lone surrogate
LATIN1_OTHER = os.fsdecode(b"/photos/caf\xe9s")

CASES = [
    # (path, folder, at or under)
    ("/photos", "/photos", True),
    ("/photos/a.jpg", "/photos", True),
    ("/photos/deep/er/a.jpg", "/photos", True),
    ("/photos2", "/photos", False),
    ("/photos2/a.jpg", "/photos", False),
    ("/photos.old/a.jpg", "/photos", False),       # "." and "-" sort before "/"
    ("/photos-2019/a.jpg", "/photos", False),
    ("/photos0/a.jpg", "/photos", False),          # "0" follows "/": the range's upper bound itself
    ("/photo", "/photos", False),
    ("/", "/photos", False),
    ("/photos/a.jpg", "/photos/", True),           # a trailing slash on the folder changes nothing
    ("/photos", "/photos/", True),
    ("/photos2/a.jpg", "/photos/", False),
    ("/photos/a.jpg", "/", True),                  # "/" holds everything, itself included
    ("/", "/", True),
    ("/photos/a.jpg", "/photos/a.jpg", True),      # a file added on its own
    ("/photos/a.jpg.xmp", "/photos/a.jpg", False),
    ("/100%_holiday/a.jpg", "/100%_holiday", True),  # no wildcards: "%" and "_" are letters of a name
    ("/100x holiday/a.jpg", "/100%_holiday", False),
    ("/100%_holidayz/a.jpg", "/100%_holiday", False),
    ("/a\\b/c.jpg", "/a\\b", True),                # a backslash is a letter too, not an escape
    ("/a\\bc/c.jpg", "/a\\b", False),
    ("/ab/c.jpg", "/a\\b", False),
    (LATIN1 + "/x.jpg", LATIN1, True),
    (LATIN1_OTHER + "/x.jpg", LATIN1, False),
    (LATIN1 + "/x.jpg", "/photos", True),
    ("/photos/café/x.jpg", LATIN1, False),         # the same letters in UTF-8 are another name
]


@pytest.mark.parametrize("path, folder, expected", CASES)
def test_is_under_goes_by_whole_names(path, folder, expected):
    assert is_under(path, folder) is expected
    low, high = inside_range(folder)   # the SQL's form says the same: the folder itself, or in the range
    assert (path == (folder.rstrip("/") or "/") or low <= path < high) is expected


def test_inside_is_under_without_the_folder_itself():
    assert is_inside("/photos/a.jpg", "/photos") and is_inside("/photos/a.jpg", "/")
    assert not is_inside("/photos", "/photos") and not is_inside("/photos", "/photos/")
    assert not is_inside("/", "/") and not is_inside("/photos2", "/photos")
    assert is_under_any("/b/x.jpg", ["/a", "/b"]) and not is_under_any("/c", ["/a", "/b"]) and not is_under_any("/a", [])


def test_outermost_counts_nested_folders_once():
    assert outermost(["/drive/2019", "/drive", "/photos2", "/photos", "/photos/trip"]) == ["/drive", "/photos",
                                                                                          "/photos2"]
    assert outermost(["/", "/photos"]) == ["/"]
    assert outermost(["/a", "/a"]) == ["/a"] and outermost([]) == []


def test_the_catalog_finds_what_the_rule_finds(tmp_path):
    """known_files, folder_summary and include answer in SQL (a range of the path index): the same as is_under, for
    every folder and every path of CASES, non-UTF-8 names included."""
    paths = sorted({p for p, _, _ in CASES} | {f for _, f, _ in CASES if f != "/"} - {"/"})
    c = Catalog(tmp_path / "c.db")
    with c.transaction():
        for i, p in enumerate(paths):
            c.media.add(p, "image", 1, 1, f"fp{i}")
    assert {m.path for m in c.media.all()} == set(paths)  # stored exactly, the surrogate-escaped names too
    for folder in sorted({f for _, f, _ in CASES}):
        expected = {p for p in paths if is_under(p, folder)}
        assert set(c.media.known_files(folder)) == expected, folder
        assert c.media.folder_summary(folder).files == len(expected), folder
    c.close()


def test_including_a_folder_lifts_only_the_exclusions_at_or_under_it(tmp_path):
    c = Catalog(tmp_path / "c.db")
    kept = ["/photos2/x", "/photos.old", "/100x holiday", "/photo", "/a/b"]
    lifted = ["/photos", "/photos/trip", LATIN1]
    with c.transaction():
        for p in kept + lifted + ["/100%_holiday/y"]:
            c.media.exclude(p)
        c.media.include("/photos/")
        c.media.include("/100%_holiday")
    assert c.media.excluded() == set(kept)
    c.close()
