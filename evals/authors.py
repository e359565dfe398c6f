"""Independent-author evaluation batches: one file per author, each with its author, persona and date.

Why a separate loader: the figures that count are per author. A batch written by a helper session that saw
only the source documents (answers) or the label definition (red flags) is scored once before any change
(the first look), and thresholds, weights and models are fitted on some authors and reported on the others
(leave-author-out). Keeping every author's batch in its own file, with its header line, is what makes that
split possible and auditable.

A batch file starts with a header comment:
``// author: a1-ed-nurse (independent helper session), persona: ..., date: 2026-12-01``
followed by JSON lines in the schema of its kind (red flag: ``text, label, category, kind, history?``;
answers: the QA schema plus ``key_facts``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from evals.data import DATASETS_DIR, DatasetError, QAItem, RedFlagItem, _lines, _qa_item
from evals.data import _redflag_item as data_redflag_item

AUTHORS_DIR = DATASETS_DIR / "authors"
# Answer authors nobody tuned the composer, abstention or retrieval on: the key-fact suite and its CI floor
# use these by default. b1-b3 were tuning authors by the fourth answering round, b7 and b8 tuning authors
# from the start (b10, an abstention-boundary batch, too); b4-b6, b9, b11-b17, b20-b23 are held out (b6
# written after the fourth round began, b9 and b11 in the fourth session, b12-b14 in the fifth, b15-b17 in the
# sixth, b20 and b21 in the seventh, b22 and b23 in the eighth; b18, b19, b24 and b25, written then too, are
# tuning authors).
ANSWERS_HELD_OUT = (
    "b4-pharmacist-physio",
    "b5-ed-consultant-anp",
    "b6-ortho-sho-practice-nurse",
    "b9-medreg-fls-nurse",  # written in the fourth session; first look recorded before any change
    "b11-rheum-nurse-paramedic-practitioner",  # the same
    "b12-orthogeri-locum",  # written in the fifth session; first look recorded before any change
    "b13-pharmacist-gp-trainee-followups",  # the same (a follow-up batch: 60 conversations in scope)
    "b14-ir-nurse-medstudent",  # the same
    "b15-pain-virtualward",  # written in the sixth session; first look recorded before any change
    "b16-enp-anticoag-pharmacist",  # the same (first look after the sibling-section change)
    "b17-physio-carehome-gp",  # the same (first look after the sibling-section change; 30 out of scope)
    "b20-ir-consultant-practice-pharmacist",  # written in the seventh session; first look recorded on arrival
    "b21-ward-sister-fy2",  # the same
    "b22-ed-charge-nurse-ortho-pa",  # written in the eighth session; first look recorded on arrival
    "b23-gpwsi-msk-carehome-pharmacist",  # the same
    "b26-resp-nurse-hah-geriatrician",  # written in the ninth session; first look recorded on arrival
    "b27-ortho-pharmacist-stroke-nurse",  # the same
    "b34-stroke-reg-gp-locum-esl",  # tenth session, registered before it was written; first look on arrival
    "b37-fls-np-fy-textspeak",  # eleventh session, the same
    "b38-occ-health-dispensing-gp",  # twelfth session, registered before it was written; first look on
    # arrival
    "b39-night-medreg-governance-nurse",  # the same
    "b42-amu-anp-dental-gp",  # thirteenth session, registered before written; first look on the final code
    "b43-hepatology-cns-ucr-paramedic",  # fourteenth session, the same
    "b44-oldage-psych-nurse-gp-registrar",  # the same
    "b47-clinical-pharmacist-ed-pa",  # fifteenth session, registered before written; first look on arrival
    "b48-spinal-fcp-physio-night-fy2",  # the same
)
# Answer authors the composer's passage choice and the abstention decision are fitted on
# (evals/train_passage_choice.py, evals/train_abstention.py), by leave-one-author-out among them: b1-b3, b7,
# b8, b10 from the fourth answering round, b18 and b19 from the seventh session, b24 and b25 from the
# eighth, b28 and b29 from the ninth, b30-b33 from the tenth, b35 and b36 from the eleventh, b40 and b41
# from the thirteenth, b45 and b46 from the fourteenth (each written as a tuning author)
ANSWERS_TUNING = (
    "b1-ward-nurse-physio",
    "b2-registrar-gp",
    "b3-gp-radiologist",
    "b7-icu-outreach-hospital-pharmacist",
    "b8-fy1-physio-student",
    "b10-hospital-night-anp-gp-partner",  # an abstention-boundary batch too
    "b18-spinal-surgeon-community-matron",  # first look recorded on arrival
    "b19-acute-physician-hca",  # the same
    "b24-radiographer-palliative-nurse",  # eighth session, written as a tuning author; first look on arrival
    "b25-endocrinologist-rehab-ot",  # the same
    "b28-preop-anaesthetist-community-physio",  # ninth session, written as a tuning author; first look
    # on arrival
    "b29-renal-registrar-district-nurse",  # the same
    "b30-ed-registrar-triage-nurse",  # tenth session, registered before written; first look on arrival
    "b31-cardiology-reg-diabetes-nurse",  # the same
    "b32-id-pharmacist-ward-hca",  # the same
    "b33-liaison-psych-nurse-obstetric-sho",  # the same
    "b35-community-ortho-physio-carehome-manager",  # eleventh session, registered before written; first look
    "b36-acute-med-spr-anticoag-pharmacist",  # the same
    "b40-orthogeri-cns-surgical-reg",  # thirteenth session, registered before written; first look on arrival
    "b41-community-pharmacist-sports-med",  # the same (written follow-up heavy: 27 of 85 in scope)
    "b45-acute-oncology-ipc-nurse",  # fourteenth session, registered before written; first look on arrival
    "b46-miu-enp-geriatrician",  # the same
)
HEADER = re.compile(r"^//\s*author:\s*(?P<author>[\w.-]+)(?P<rest>.*)$")
DATE = re.compile(r"date:\s*(\d{4}-\d{2}-\d{2})")


@dataclass(frozen=True)
class KeyFact:
    """One fact a correct answer must state, and a case-insensitive pattern that recognises it."""

    fact: str
    pattern: re.Pattern[str]

    def found_in(self, text: str) -> bool:
        return bool(self.pattern.search(text))


@dataclass
class KeyFactItem(QAItem):
    """A question with the facts its answer must contain (empty for out-of-scope questions)."""

    key_facts: list[KeyFact] = field(default_factory=list)
    author: str = ""


@dataclass
class AuthorBatch:
    """One author's file: who wrote it, when, its hash, and its items."""

    author: str
    date: str
    about: str
    path: Path
    sha256: str
    items: list

    def describe(self) -> dict:
        return {"author": self.author, "date": self.date, "path": str(self.path), "sha256": self.sha256,
                "n": len(self.items)}


def _header(path: Path) -> tuple[str, str, str]:
    first = path.read_text(encoding="utf-8").split("\n", 1)[0].strip()
    match = HEADER.match(first)
    if not match:
        raise DatasetError(f"{path}:1: an author batch starts with '// author: NAME ..., date: YYYY-MM-DD'")
    date = DATE.search(first)
    if not date:
        raise DatasetError(f"{path}:1: the header line needs 'date: YYYY-MM-DD'")
    return match["author"], date.group(1), match["rest"].strip(" ,")


def _redflag_item(author: str, where: str, row: dict) -> RedFlagItem:
    item = data_redflag_item(where, row, split=author)
    item.category = item.category if item.label else None
    return item


def _key_fact_item(author: str, where: str, row: dict) -> KeyFactItem:
    base = _qa_item(where, row)
    facts = []
    for raw in row.get("key_facts") or []:
        if not isinstance(raw, dict) or not isinstance(raw.get("pattern"), str):
            raise DatasetError(f"{where}: each key fact needs 'fact' and 'pattern'")
        try:
            pattern = re.compile(raw["pattern"], re.IGNORECASE)
        except re.error as exc:
            msg = f"{where}: key-fact pattern {raw['pattern']!r} does not compile: {exc}"
            raise DatasetError(msg) from exc
        facts.append(KeyFact(str(raw.get("fact") or raw["pattern"]), pattern))
    if base.expected_mode == "answer" and not facts:
        raise DatasetError(f"{where}: an answerable question needs at least one key fact")
    return KeyFactItem(**base.__dict__, key_facts=facts, author=author)


def load_batches(kind: str, root: Path = AUTHORS_DIR) -> list[AuthorBatch]:
    """Every author batch of `kind` ("redflag" or "answers"), sorted by file name."""
    makers: dict[str, Callable[[str, str, dict], RedFlagItem | KeyFactItem]] = {
        "redflag": _redflag_item,
        "answers": _key_fact_item,
    }
    make = makers[kind]
    batches = []
    for path in sorted((root / kind).glob("*.jsonl")):
        author, date, about = _header(path)
        sha, rows = _lines(path)
        items, seen = [], set()
        for number, row in rows:
            item = make(author, f"{path}:{number}", row)
            if item.id in seen:
                raise DatasetError(f"{path}:{number}: duplicate id {item.id!r}")
            seen.add(item.id)
            items.append(item)
        batches.append(AuthorBatch(author, date, about, path, sha, items))
    return batches


def named(authors: tuple[str, ...], short: list[str] | None) -> tuple[str, ...]:
    """The `authors` a command line names by their short ids ("b1 b24"), in `authors`' order; all of them when
    none are named. Whole ids only: "b1" is b1-…, never b10-…."""
    if not short:
        return authors
    return tuple(a for a in authors if any(a.startswith(f"{s}-") or a == s for s in short))


def command_line_authors(kind: str, names: str | None) -> set[str] | None:
    """A command's `--authors` (comma-separated, whole names or short ids such as "b1") as the batches'
    author names; None when not given. A name that matches no batch is an error, not an empty run: the
    benchmark once recorded an empty result for "b1,b2" written as short ids."""
    if not names:
        return None
    wanted = [n.strip() for n in names.split(",") if n.strip()]
    every = tuple(b.author for b in load_batches(kind))
    unknown = [n for n in wanted if not named(every, [n])]
    if unknown:
        raise SystemExit(f"no {kind} author batch named {', '.join(unknown)}")
    return set(named(every, wanted))


def redflag_held_out() -> tuple[str, ...]:
    """Every red-flag author batch the default model was not trained on: the held-out authors recorded in its
    metadata, then any batch written after it (a34-a39 came after static11r), as the guardrail tests count
    them — a batch nobody trained on joins the suite and its CI floor by itself."""
    import json

    from service.guardrails.guard import model_meta_path
    from service.settings import Settings

    default = Settings.model_fields["redflag_model"].default
    meta = json.loads(model_meta_path(default).read_text(encoding="utf-8"))
    recorded = [a for a in meta["held_out"] if not a.startswith("ordinary-")]
    trained = set(meta["trained_on"])
    later = [b.author for b in load_batches("redflag")
             if b.author not in trained and b.author not in recorded]
    return (*recorded, *later)


def held_out_items(kind: str, corpus: str | None = None) -> tuple[str, list]:
    """(sha256 over the batches' author names and hashes, items) of the held-out authors of `kind`; for
    answers, only `corpus`'s questions
    ("shipped" or "open-medicine", decided as evals.keyfacts.corpus_of does)."""
    authors = redflag_held_out() if kind == "redflag" else ANSWERS_HELD_OUT
    batches = [b for b in load_batches(kind) if b.author in authors]
    items = [i for b in batches for i in b.items]
    if kind == "answers" and corpus:
        from evals.keyfacts import corpus_of

        items = [i for i in items if corpus_of(i, "shipped") == corpus]
    import hashlib

    combined = hashlib.sha256(",".join(f"{b.author}:{b.sha256}" for b in batches).encode()).hexdigest()
    return combined, items
