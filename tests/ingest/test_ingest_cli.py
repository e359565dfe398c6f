"""`python -m ingest` as the content team runs it: a real subprocess against a real Chroma store (`e2e`; the
planning and the refusals also have in-process tests in test_plan.py and below)."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import CORPUS, OPEN_MEDICINE, ROOT, free_port, run_ingest

INSPECT = r"""
import json, sys
from config import StoreSettings
from ingest.store import IndexStore
store = IndexStore(StoreSettings())
m = store.manifest()
out = {"generation": m.generation, "corpus_version": m.corpus_version}
out["collections"] = store.record_collections()
if m.generation:
    records = store.records(m.generation)
    out["docs"] = store.doc_table(m.generation)
    out["chunks"] = len(records)
    out["sentences"] = sum(len(r.sentence_spans) for r in records)
    out["vectors"] = sum(r.sentence_vectors.size for r in records)
print(json.dumps(out))
"""


def read_store(code: str, store: Path, env: dict | None = None):
    """What `code` prints last as JSON, run in a fresh process over `store`, as the service would read it."""
    proc = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "GQA_STORE_DIR": str(store), **(env or {})},
    )
    return json.loads(proc.stdout.strip().splitlines()[-1])


def inspect(store: Path, env: dict | None = None) -> dict:
    return read_store(INSPECT, store, env)


def make_corpus(root: Path, n: int = 3) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        (root / f"doc_{i}.md").write_text(
            f"---\nid: doc_{i}\ntitle: Document {i}\ntype: guideline\norganisation: Test Society\n"
            f"year: 202{i}\nsource: Test Society {i}\n---\n# Document {i}\n\n## Findings\n"
            f"Finding number {i} is described in this sentence. A second sentence adds detail {i}.\n\n"
            f"## Management\nManage case {i} conservatively at first. Escalate when pain persists.\n"
        )
    return root


def embedded_count(stdout: str) -> int:
    match = re.search(r"(\d+) chunks embedded", stdout)
    assert match, stdout
    return int(match.group(1))


@pytest.mark.e2e
def test_ingest_rerun_change_prune_and_dry_run(tmp_path: Path) -> None:
    corpus, store = make_corpus(tmp_path / "corpus"), tmp_path / "store"
    first = run_ingest(store, corpus)
    assert embedded_count(first.stdout) == 6
    state1 = inspect(store)
    assert sorted(state1["docs"]) == ["doc_0", "doc_1", "doc_2"] and state1["chunks"] == 6
    assert state1["sentences"] == 12

    again = run_ingest(store, corpus)
    assert "up to date: 3 unchanged" in again.stdout
    assert inspect(store) == state1  # nothing re-embedded, nothing changed

    (corpus / "doc_1.md").write_text((corpus / "doc_1.md").read_text() + "\nOne more line was added today.\n")
    dry = run_ingest(store, corpus, extra=("--dry-run",))
    assert "changed   doc_1" in dry.stdout and "0 added, 1 changed, 2 unchanged, 0 removed" in dry.stdout
    assert inspect(store) == state1  # dry run touched nothing

    changed = run_ingest(store, corpus)
    assert embedded_count(changed.stdout) == 2  # only doc_1's chunks
    state2 = inspect(store)
    assert state2["generation"] != state1["generation"]
    assert state2["docs"]["doc_1"]["hash"] != state1["docs"]["doc_1"]["hash"]
    assert state2["docs"]["doc_0"] == state1["docs"]["doc_0"]

    (corpus / "doc_2.md").unlink()
    kept = run_ingest(store, corpus)
    assert "up to date" in kept.stdout and "doc_2" in inspect(store)["docs"]  # no --prune: kept
    pruned = run_ingest(store, corpus, extra=("--prune",))
    assert "1 documents removed" in pruned.stdout
    state3 = inspect(store)
    assert sorted(state3["docs"]) == ["doc_0", "doc_1"] and state3["chunks"] == 4
    assert len(state3["collections"]) == 1  # small changes extend the live record collection


@pytest.mark.e2e
def test_prune_only_touches_its_own_source(tmp_path: Path) -> None:
    a, b, store = make_corpus(tmp_path / "a", 2), tmp_path / "b", tmp_path / "store"
    b.mkdir()
    (b / "extra.md").write_text("# Extra Topic\n\nSome extra guidance sentence here.\n")
    run_ingest(store, a)
    run_ingest(store, b, extra=("--prune",))
    assert sorted(inspect(store)["docs"]) == ["doc_0", "doc_1", "extra"]


@pytest.mark.e2e
def test_invalid_document_names_file_and_leaves_index_untouched(tmp_path: Path) -> None:
    corpus, store = make_corpus(tmp_path / "corpus"), tmp_path / "store"
    run_ingest(store, corpus)
    before = inspect(store)
    (corpus / "doc_0.md").write_text((corpus / "doc_0.md").read_text() + "\nA legitimate edit.\n")
    (corpus / "broken.md").write_text("---\nid: broken\ntitle: [oops\n---\n# Broken\n")
    (corpus / "nosource.md").write_text(
        "---\nid: nosource\ntitle: T\ntype: guideline\njournal: J\nyear: 2020\n---\n# T\nx\n"
    )
    proc = run_ingest(store, corpus, check=False)
    assert proc.returncode == 1
    lines = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 2
    assert any("broken.md" in line and "YAML" in line for line in lines)
    assert any("nosource.md" in line and "source" in line for line in lines)
    assert "Traceback" not in proc.stderr
    assert inspect(store) == before  # the valid edit was not applied either


def test_missing_path_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from ingest.__main__ import main

    monkeypatch.setenv("GQA_STORE_DIR", str(tmp_path / "store"))
    assert main(["--quiet", str(tmp_path / "nope")]) == 1
    assert "does not exist" in " ".join(capsys.readouterr().err.split())


@pytest.mark.e2e
def test_sigkill_mid_ingest_keeps_live_index_and_rerun_completes(tmp_path: Path) -> None:
    store = tmp_path / "store"
    small = make_corpus(tmp_path / "corpus", 2)
    run_ingest(store, small)
    live = inspect(store)
    big = tmp_path / "big"
    guidelines = sorted(p for p in OPEN_MEDICINE.iterdir() if p.is_dir())[:12]
    for folder in guidelines:
        shutil.copytree(folder, big / "om" / folder.name)
    n_docs = sum(1 for _ in (big / "om").rglob("*.md")) + 2
    shutil.copytree(small, big / "small")
    env = {**os.environ, "GQA_STORE_DIR": str(store), "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "ingest", "--quiet", str(big)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    line = proc.stdout.readline()  # the plan is printed just before embedding starts
    assert line.startswith("plan:"), line
    time.sleep(2.5)  # let it write part of the new generation
    assert proc.poll() is None, "ingest finished before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    after_kill = inspect(store)
    assert after_kill["generation"] == live["generation"]
    assert after_kill["docs"] == live["docs"] and after_kill["chunks"] == live["chunks"]
    assert len(after_kill["collections"]) == 2  # the unfinished one is there, not published

    run_ingest(store, big)
    done = inspect(store)
    assert done["generation"] != live["generation"]
    assert len(done["docs"]) == n_docs
    assert len(done["collections"]) <= 2


@pytest.mark.e2e
def test_server_mode_against_real_chroma_server(tmp_path: Path) -> None:
    chroma = shutil.which("chroma", path=str(Path(sys.executable).parent))
    assert chroma, "the chroma CLI is installed with chromadb"
    port = free_port()
    server = subprocess.Popen(
        [
            chroma,
            "run",
            "--path",
            str(tmp_path / "chroma-server"),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        import httpx

        for _ in range(100):
            try:
                if httpx.get(f"http://127.0.0.1:{port}/api/v2/heartbeat", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        env = {"GQA_CHROMA_URL": f"http://127.0.0.1:{port}"}
        corpus, local = make_corpus(tmp_path / "corpus"), tmp_path / "unused-local"
        first = run_ingest(local, corpus, env=env)
        assert embedded_count(first.stdout) == 6
        state = inspect(local, env)
        assert state["chunks"] == 6 and sorted(state["docs"]) == ["doc_0", "doc_1", "doc_2"]
        assert "up to date" in run_ingest(local, corpus, env=env).stdout
        assert not (local / "chroma").exists()  # nothing went to the embedded store
    finally:
        server.terminate()
        server.wait(timeout=20)


def test_shipped_corpus_is_valid() -> None:
    from ingest.documents import load_documents

    result = load_documents([CORPUS])
    assert result.problems == []
    assert len(result.documents) >= 8
    ids = {d.doc_id for d in result.documents}
    for doc in result.documents:
        for cited in doc.meta.get("cites", []):
            assert cited in ids, f"{doc.doc_id} cites unknown {cited}"


def ingest_with_timeout(store: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """`python -m ingest` that is killed after `timeout` s, for inputs that used to hang it."""
    return subprocess.run(
        [sys.executable, "-m", "ingest", "--quiet", *args],
        cwd=ROOT,
        env={**os.environ, "GQA_STORE_DIR": str(store)},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.mark.e2e
def test_symlink_out_of_path_is_refused_and_index_untouched(tmp_path: Path) -> None:
    corpus, store = make_corpus(tmp_path / "corpus", 2), tmp_path / "store"
    run_ingest(store, corpus)
    before = inspect(store)
    secret = tmp_path / "elsewhere" / "secret.md"
    secret.parent.mkdir()
    secret.write_text(
        "---\nid: planted_secret\ntitle: Secret\ntype: guideline\norganisation: X\nyear: 2020\n"
        "source: X\n---\n# Secret\n\nThe database password is hunter2.\n"
    )
    (corpus / "innocent.md").symlink_to(secret)
    os.mkfifo(corpus / "pipe.md")  # skipped with a note, never opened (it would block forever)
    proc = ingest_with_timeout(store, str(corpus))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "innocent.md" in errors[0] and "outside" in errors[0], proc.stderr
    assert any(line.startswith("note:") and "pipe.md" in line for line in proc.stderr.splitlines())
    assert inspect(store) == before  # nothing written; the secret is not in the index

    (corpus / "innocent.md").unlink()
    ok = ingest_with_timeout(store, str(corpus))
    assert ok.returncode == 0 and "up to date" in ok.stdout
    assert "note:" in ok.stderr and "FIFO" in ok.stderr


@pytest.mark.e2e
def test_corrupt_store_says_what_to_do_and_repair_rebuilds_it(tmp_path: Path) -> None:
    corpus, store = make_corpus(tmp_path / "corpus", 2), tmp_path / "store"
    run_ingest(store, corpus)
    database = store / "chroma" / "chroma.sqlite3"
    damaged = bytearray(database.read_bytes())
    damaged[:4096] = bytes(4096)  # a zeroed first page, as after a disk fault
    database.write_bytes(damaged)
    feedback = store / "feedback.sqlite3"
    feedback.write_bytes(b"operator data that a repair must not touch")

    again = run_ingest(store, corpus, check=False)
    assert again.returncode == 2
    assert "corrupt" in again.stderr and f"--repair {corpus}" in again.stderr, again.stderr
    assert "Traceback" not in again.stderr

    assert run_ingest(store, corpus, extra=("--repair", "--dry-run"), check=False).returncode == 2
    (corpus / "bad.md").write_text("---\nid: bad\nyear: .inf\n---\n# Bad\nx\n")
    invalid = run_ingest(store, corpus, extra=("--repair",), check=False)
    assert invalid.returncode == 1 and "bad.md" in invalid.stderr
    assert database.read_bytes() == bytes(damaged)  # an invalid corpus moves nothing
    (corpus / "bad.md").unlink()

    repaired = run_ingest(store, corpus, extra=("--repair",))
    (aside,) = store.glob("chroma.before-repair-*")
    assert str(aside) in repaired.stdout
    assert (aside / "chroma.sqlite3").read_bytes() == bytes(damaged)  # moved aside, not deleted
    assert feedback.read_bytes() == b"operator data that a repair must not touch"
    state = inspect(store)  # a fresh process reads the rebuilt store, as the service would
    assert sorted(state["docs"]) == ["doc_0", "doc_1"] and state["chunks"] == 4
    assert "up to date: 2 unchanged" in run_ingest(store, corpus).stdout


@pytest.mark.e2e
def test_a_first_run_prints_the_plan_and_summary_and_no_library_noise(tmp_path: Path) -> None:
    """A newcomer's first `python -m ingest corpus` (empty model cache, so the ONNX export runs) shows the
    plan and the summary, not torch's export warnings, onnxruntime's advice or bm25s's DEBUG lines."""
    proc = subprocess.run(
        [sys.executable, "-m", "ingest", str(CORPUS)],
        cwd=ROOT,
        env={
            **os.environ,
            "GQA_STORE_DIR": str(tmp_path / "store"),
            "GQA_CACHE_DIR": str(tmp_path / "cache"),
        },
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    assert "plan:" in proc.stdout and "chunks embedded" in proc.stdout
    noise = [line for line in proc.stderr.splitlines() if re.search(r"warn|debug|traceback", line, re.I)]
    assert noise == [], noise
