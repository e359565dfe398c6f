"""Files that used to hang, crash or leak through ingest (issue 12, items 5 and 6), as real files on disk.

Anything that hung or exhausted memory before the fix runs in a child process with a timeout and an
address-space limit, so a regression fails the test instead of hanging the suite or the machine.
"""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from ingest.documents import MAX_BYTES, load_documents
from tests.conftest import ROOT

GOOD = (
    "---\nid: {id}\ntitle: Title {id}\ntype: guideline\norganisation: Test Society\nyear: {year}\n"
    "source: Test Society {id}\n---\n# Title {id}\n\n## Section\nA sentence about {id} lives here.\n"
)

LOAD = r"""
import json, resource, sys
from pathlib import Path
limit = int(sys.argv[1])
resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
from ingest.documents import load_documents
r = load_documents([Path(p) for p in sys.argv[2:]])
print(json.dumps({
    "documents": [d.doc_id for d in r.documents],
    "problems": [[str(p.path), p.message] for p in r.problems],
    "notices": [[str(p.path), p.message] for p in getattr(r, "notices", [])],
}))
"""


def load_isolated(*roots: Path, timeout: float = 30, memory: int = 2 << 30) -> dict:
    """`load_documents` in a child process that is killed after `timeout` s and may map at most `memory`."""
    proc = subprocess.run(
        [sys.executable, "-c", LOAD, str(memory), *map(str, roots)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout)


def corpus(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "ok.md").write_text(GOOD.format(id="ok", year=2020))
    return root


def messages(result: dict, kind: str = "problems") -> dict[str, str]:
    return {Path(path).name: message for path, message in result[kind]}


# --- item 5: only regular files inside PATH ---------------------------------------------------------


def test_symlinked_file_and_folder_leaving_path_are_refused_by_name(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.md").write_text(GOOD.format(id="planted_secret", year=2020))
    root = corpus(tmp_path / "corpus")
    (root / "link.md").symlink_to(outside / "secret.md")
    (root / "linked_folder").symlink_to(outside, target_is_directory=True)
    (root / "sub").mkdir()
    (root / "sub" / "up.md").symlink_to(Path("..") / ".." / "outside" / "secret.md")  # relative, still out
    result = load_documents([root])
    problems = {p.path.name: p.message for p in result.problems}
    assert set(problems) == {"link.md", "linked_folder", "up.md"}
    assert all("outside" in m and "refused" in m for m in problems.values())
    assert "planted_secret" not in {d.doc_id for d in result.documents}


def test_symlinks_that_stay_inside_path_are_still_read(tmp_path: Path) -> None:
    root = corpus(tmp_path / "corpus")
    (root / "real").mkdir()
    (root / "real" / "doc.md").write_text(GOOD.format(id="inner", year=2021))
    (root / "alias.md").symlink_to(root / "ok.md")  # same document twice: a duplicate id, named
    (root / "folder_alias").symlink_to(root / "real", target_is_directory=True)
    result = load_documents([root])
    assert {d.doc_id for d in result.documents} == {"ok", "inner"}
    assert [p.path.name for p in result.problems] == ["alias.md", "ok.md"]
    assert all("duplicate id 'ok'" in p.message for p in result.problems)
    assert [n.path.name for n in result.notices] == ["folder_alias"]


@pytest.mark.e2e
def test_fifo_socket_and_device_named_md_are_skipped_without_being_opened(tmp_path: Path) -> None:
    root = corpus(tmp_path / "corpus")
    os.mkfifo(root / "pipe.md")  # opening this for reading blocks until a writer appears: forever
    expected = {"pipe.md"}
    sock = socket.socket(socket.AF_UNIX)
    try:
        sock.bind(str(root / "sock.md"))
        expected.add("sock.md")
    except OSError:
        pass  # path too long for AF_UNIX on this machine; the FIFO still makes the point
    try:
        os.mknod(root / "zero.md", stat.S_IFCHR | 0o600, os.makedev(1, 5))  # a /dev/zero inside PATH
        expected.add("zero.md")
    except (PermissionError, OSError):
        pass  # no CAP_MKNOD here
    try:
        result = load_isolated(root)  # killed after 30 s: a read that blocked on the FIFO fails the test
    finally:
        sock.close()
    assert result["documents"] == ["ok"] and result["problems"] == []
    notices = messages(result, "notices")
    assert set(notices) == expected
    assert "FIFO" in notices["pipe.md"] and all("not a regular file" in m for m in notices.values())


# --- item 6: size before reading, safe YAML, typed fields, anchored ids -------------------------------


@pytest.mark.e2e
def test_symlink_to_dev_zero_is_refused_not_read(tmp_path: Path) -> None:
    root = corpus(tmp_path / "corpus")
    (root / "zero.md").symlink_to("/dev/zero")
    result = load_isolated(root, memory=1 << 30)
    assert result["documents"] == ["ok"]
    assert "/dev/zero" in messages(result)["zero.md"]


@pytest.mark.e2e
def test_size_is_checked_on_the_open_file_before_reading(tmp_path: Path) -> None:
    root = corpus(tmp_path / "corpus")
    with open(root / "huge.md", "wb") as handle:  # sparse: 3 GiB long, no disk used
        handle.truncate(3 << 30)
    result = load_isolated(root, memory=1 << 30)  # reading it whole would need 3 GiB
    assert f"larger than {MAX_BYTES} bytes" in messages(result)["huge.md"]


def billion_laughs() -> str:
    levels = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for prev, name in zip("abcdefgh", "bcdefghi", strict=True):
        levels.append(f"{name}: &{name} [" + ",".join([f"*{prev}"] * 9) + "]")
    return (
        "---\nid: bomb\ntitle: Bomb\ntype: guideline\norganisation: O\nyear: 2020\n"
        + "\n".join(levels)
        + "\nsource: *i\n---\n# Bomb\n\nBody text.\n"
    )


@pytest.mark.e2e
def test_alias_bomb_front_matter_fails_fast_by_name(tmp_path: Path) -> None:
    root = corpus(tmp_path / "corpus")
    bomb = billion_laughs()
    assert len(bomb.encode()) < 600  # a few hundred bytes that expand to 9**9 strings
    (root / "bomb.md").write_text(bomb)
    result = load_isolated(root, timeout=30, memory=1 << 30)  # killed (test fails) if the bomb expands
    assert "anchor &a is not allowed" in messages(result)["bomb.md"]
    assert result["documents"] == ["ok"]


@pytest.mark.parametrize(
    "front",
    ["x: &one 1\ny: *one\n", "base: &b {k: 1}\nmore:\n  <<: *b\n", "x: *undefined\n"],
    ids=["anchor-alias", "merge-key", "bare-alias"],
)
def test_any_anchor_or_alias_is_refused(tmp_path: Path, front: str) -> None:
    text = GOOD.format(id="doc", year=2020).replace("year: 2020\n", "year: 2020\n" + front)
    (tmp_path / "doc.md").write_text(text)
    (problem,) = load_documents([tmp_path]).problems
    assert problem.path.name == "doc.md" and "invalid YAML front matter" in problem.message
    assert "alias" in problem.message or "anchor" in problem.message


def test_deeply_nested_front_matter_is_a_named_problem(tmp_path: Path) -> None:
    text = GOOD.format(id="deep", year=2020).replace("year: 2020\n", "year: 2020\nx: " + "[" * 5000 + "\n")
    (tmp_path / "deep.md").write_text(text.replace("x: " + "[" * 5000, "x: " + "[" * 5000 + "]" * 5000))
    (problem,) = load_documents([tmp_path]).problems
    assert problem.path.name == "deep.md" and "nested more than" in problem.message


@pytest.mark.parametrize(
    ("field", "value", "expect"),
    [
        ("year", ".inf", "year must be a whole number from 1800 to 2100, not inf"),
        ("year", "-.inf", "year must be a whole number"),
        ("year", ".nan", "year must be a whole number"),
        ("year", "1e300", "year must be a whole number"),
        ("year", "2020.5", "year must be a whole number"),
        ("year", "99999999999999999999999", "year must be a whole number"),
        ("year", "1492", "year must be a whole number"),
        ("year", "true", "year must be a whole number"),
        ("year", "[2020]", "year must be a whole number"),
        ("year", "'twenty'", "year must be a whole number"),
        ("title", "[a, b]", "title must be text, not a list"),
        ("title", "{a: b}", "title must be text, not a mapping"),
        ("title", "'" + "t" * 501 + "'", "title is longer than 500 characters"),
        ("title", '"two\\nlines"', "title must be one line"),
        ("id", "12345", "id must be text, not int"),
        ("id", "'has space'", "id 'has space' may only contain"),
        ("id", '"line\\nbreak"', "may only contain"),
        ("type", "[guideline]", "type must be one of"),
        ("source", "{a: 1}", "source must be text, not a mapping"),
        ("organisation", "[x]", "organisation must be text, not a list"),
        ("updated", "last spring", "updated must be a date YYYY-MM-DD"),
        ("updated", "2025-02-30", "invalid value in YAML front matter"),
        ("updated", "'2025-02-30'", "updated must be a date YYYY-MM-DD"),
        ("updated", "9999-01-01", "updated must be a date YYYY-MM-DD"),
        ("cites", "other_doc", "cites must be a list of document ids"),
        ("cites", "[ok, [nested]]", "cites holds ['nested']"),
        ("cites", "[ok, 'bad id']", "cites holds 'bad id'"),
    ],
)
def test_every_front_matter_field_is_type_and_range_checked_by_name(
    tmp_path: Path, field: str, value: str, expect: str
) -> None:
    lines = GOOD.format(id="doc", year=2020).splitlines(keepends=True)
    replaced = [f"{field}: {value}\n" if line.startswith(f"{field}:") else line for line in lines]
    if replaced == lines:  # an optional field: add it
        replaced.insert(1, f"{field}: {value}\n")
    (tmp_path / "doc.md").write_text("".join(replaced))
    (problem,) = load_documents([tmp_path]).problems
    assert problem.path.name == "doc.md"
    assert expect in problem.message
    assert len(str(problem)) < 400  # a hostile value is shown shortened, not echoed whole


def test_valid_optional_fields_still_pass(tmp_path: Path) -> None:
    text = GOOD.format(id="doc", year="'2019'").replace(
        "year: '2019'\n",
        "year: '2019'\nupdated: 2025-11-14\ncites: [other_doc, a/b.c]\njournal:\nextra: [1, 2]\n",
    )
    (tmp_path / "doc.md").write_text(text)
    result = load_documents([tmp_path])
    assert result.problems == []
    (doc,) = result.documents
    assert doc.meta["year"] == 2019 and doc.meta["updated"] == "2025-11-14"
    assert doc.meta["cites"] == ["other_doc", "a/b.c"]


def test_file_name_ending_in_newline_does_not_become_an_id(tmp_path: Path) -> None:
    (tmp_path / "evil\n.md").write_text("# Evil\n\nSome text.\n")
    (tmp_path / "fine.md").write_text("# Fine\n\nSome text.\n")
    result = load_documents([tmp_path])
    assert [d.doc_id for d in result.documents] == ["fine"]
    (problem,) = result.problems
    assert "evil\n.md" == problem.path.name and "rename the file" in problem.message
    assert "\n" not in str(problem)  # the printed line escapes it: one line per problem


@pytest.mark.e2e
def test_a_fifo_named_as_path_is_refused_without_being_opened(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe.md")
    result = load_isolated(tmp_path / "pipe.md")
    assert result["documents"] == []
    assert "FIFO" in messages(result)["pipe.md"]
