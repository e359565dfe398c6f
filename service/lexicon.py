"""Clinical shorthand in questions, expanded for retrieval and abstention evidence.

Why: clinicians write "cement PE after VP", "new # in pts after KP"; the guideline text says "pulmonary
embolism", "fracture", "patients", "kyphoplasty". Neither BM25 nor MiniLM links the two, so such questions
retrieved weakly and were abstained on although a section answers them. The expansion is *appended*
("cement PE after VP (pulmonary embolism vertebroplasty)"), never substituted, so the clinician's own words
still match a passage that uses the abbreviation.

One table, service/data/lexicon.tsv (reviewable data, loaded by service/lexicon_table.py), shared with the
red-flag guardrail's normaliser: rows marked `both` serve both, `query` rows only retrieval (the guardrail
does not look for them), `guardrail` rows only the guardrail (British→American spellings, contractions and
typos: appending "hemorrhage" to a British question adds nothing).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import lru_cache

from service.lexicon_table import table


@lru_cache(maxsize=1)
def lexicon() -> dict[str, str]:
    """term → expansion for queries: the rows of service/data/lexicon.tsv marked `both` or `query` (the
    guardrail's spelling variants and contractions are `guardrail` rows: appending "hemorrhage" to a British
    question adds nothing)."""
    return table("query")


@lru_cache(maxsize=1)
def _pattern() -> re.Pattern[str]:
    keys = sorted(lexicon(), key=len, reverse=True)
    alternatives = "|".join(re.escape(k) for k in keys)
    # Word boundaries by hand: "#" and "#s" are not word characters.
    return re.compile(rf"(?<![\w#])(?:{alternatives})(?![\w#])", re.IGNORECASE)


def expansions(text: str, corpus_uses: Callable[[str], bool] | None = None) -> list[str]:
    """The expansions of the shorthand in `text`, in order, each once, skipping what the text already says.

    `corpus_uses(word)` says whether the corpus itself writes the abbreviation (open-medicine writes "PE",
    "COPD", "CKD" throughout); such a word already matches, and appending its expansion only dilutes the
    query (measured: it cost open-medicine questions their top passage), so it is left alone.
    """
    lowered = text.lower()
    found: list[str] = []
    for match in _pattern().finditer(text):
        word = match.group(0).lower()
        if corpus_uses is not None and corpus_uses(word):
            continue
        full = lexicon()[word]
        if full not in found and full not in lowered:
            found.append(full)
    return found


def expand_query(text: str, corpus_uses: Callable[[str], bool] | None = None) -> str:
    """`text` with the expansions of its shorthand appended in parentheses (unchanged when there is none)."""
    extra = expansions(text, corpus_uses)
    return f"{text} ({'; '.join(extra)})" if extra else text
