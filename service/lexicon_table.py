"""The one reviewable table of clinical shorthand, synonyms and spelling variants: service/data/lexicon.tsv.

Read by query expansion (service/lexicon.py: rows marked `both` or `query`) and by the red-flag guardrail's
normaliser (service/guardrails/normalise.py: rows marked `both` or `guardrail`), so a clinician reviewing
"what does the service read PE as?" reads one file. Loaded once; no dependencies, so the guardrail can import
it without importing retrieval code.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

TABLE = Path(__file__).resolve().parent / "data" / "lexicon.tsv"
USES = frozenset({"both", "guardrail", "query"})


class LexiconError(ValueError):
    """The table is malformed (the message names the line)."""


@lru_cache(maxsize=4)
def rows(path: Path = TABLE) -> tuple[tuple[str, str, str], ...]:
    """(term, expansion, use) in file order; comment lines start with "# " (a term may itself be "#")."""
    out: list[tuple[str, str, str]] = []
    seen: set[tuple[str, str]] = set()
    header = False
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.startswith("# ") or line.strip() == "#":
            continue
        fields = line.split("\t")
        if not header:
            if fields != ["term", "expansion", "use"]:
                raise LexiconError(f"{path}:{number}: expected the header 'term<TAB>expansion<TAB>use'")
            header = True
            continue
        if len(fields) != 3 or not fields[0] or not fields[1] or fields[2] not in USES:
            raise LexiconError(f"{path}:{number}: expected 'term<TAB>expansion<TAB>both|guardrail|query'")
        term, expansion, use = fields
        if term != term.lower():
            raise LexiconError(f"{path}:{number}: terms are lower case (matching ignores case)")
        for side in ("guardrail", "query") if use == "both" else (use,):
            if (term, side) in seen:
                raise LexiconError(f"{path}:{number}: {term!r} is defined twice for {side}")
            seen.add((term, side))
        out.append((term, expansion, use))
    return tuple(out)


def table(use: str, path: Path = TABLE) -> dict[str, str]:
    """term → expansion for `use` ("guardrail" or "query"), including the rows marked `both`."""
    return {term: expansion for term, expansion, u in rows(path) if u in ("both", use)}
