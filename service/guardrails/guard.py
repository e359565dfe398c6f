"""The red-flag guardrail the service calls before any retrieval: decide, attach fixed guidance, audit.

`check()` is the decision alone (evals use it); `screen()` is the same decision plus an audit line per
trigger (the service uses it). Both look at the question and at the latest user turn of `history`, so
"what should I do?" after "she can't feel her legs" is caught. Nothing in the text can switch the check off:
the rules only look for clinical statements, never for instructions.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from service.unicode_clean import clean_text

from .audit import AuditLog
from .detector import detect
from .exemplars import ExemplarMatcher, load_exemplars
from .finetuned import FinetunedModel, FinetunedScreen
from .guidance import Guidance, load_guidance
from .learned import MODEL_DIR, TOKEN, LearnedModel, LearnedScreen, ModelError, has_finding
from .ruleset import RULES_VERSION

# Texts with fewer words than this ("?", "help", "what now") carry no meaning of their own for the model;
# the rules read them (and the latest user turn is screened beside them).
MIN_MODEL_WORDS = 2

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RedFlag:
    """A triggered red flag: the category, its fixed guidance text verbatim, that text's version, why, and
    the version of the rule files that were screening (rules/ruleset.yaml's version + a hash of the files:
    the rules feed every decision, the learned layer's included, so a rule edit shows here)."""

    category: str
    guidance: str
    version: str
    rule: str
    rules_version: str = RULES_VERSION


@dataclass(frozen=True)
class _Decision:
    category: str
    rule: str
    source: str
    text: str


def _latest_user_turn(history: Iterable[Any] | None) -> str | None:
    """The content of the last user turn; accepts dicts or objects with .role/.content (pydantic turns)."""
    latest = None
    for turn in history or ():
        role = turn.get("role") if isinstance(turn, dict) else getattr(turn, "role", None)
        content = turn.get("content") if isinstance(turn, dict) else getattr(turn, "content", None)
        if role == "user" and isinstance(content, str) and content.strip():
            latest = content
    return latest


def model_folder(name: str) -> Path:
    """Where the learned layer called `name` ships: v5, v6 and the first static model in `model/` itself,
    every later one in its own `model/<name>/`."""
    return MODEL_DIR if name in ("v5", "v6", "static") else MODEL_DIR / name


def model_meta_path(name: str) -> Path:
    """The metadata file of the learned layer called `name` (its `trained_on` and `held_out` lists): the
    tests' floors and the red-flag suite's default authors follow the default model's."""
    if name == "v6":
        return MODEL_DIR / "finetuned.json"
    return model_folder(name) / ("static.json" if name.startswith("static") else "redflag.json")


def _load_learned(settings, embedder) -> LearnedScreen | FinetunedScreen:
    """The learned layer the settings name: static11r (the default since the end of the sixth session:
    v5's recipe over 64-dim static vectors distilled from MiniLM, trained on twenty-one authors, thresholds
    held to LOAO recall 0.995, `model/static11r/`; static11 the same weights at 0.99, `static` the first
    such model), v5, v7–v11 (linear models over the shared MiniLM embedder's vectors, `model/redflag.*`,
    `model/v7/` … `model/v11/`) or v6 (fine-tuned MiniLM, its own ONNX graph in the embedder's cache)."""
    name = getattr(settings, "redflag_model", "static11r")
    if name.startswith("static"):
        from .static_model import load_static_screen

        return load_static_screen(model_folder(name))
    if name == "v6":
        try:
            return FinetunedScreen(FinetunedModel.load(cache_dir=settings.cache_dir))
        except ModelError:
            raise
        except Exception as exc:  # e.g. the graph export failed: refuse v6 alone, the exemplars still load
            raise ModelError(f"the v6 red-flag model could not be loaded: {exc}") from exc
    return LearnedScreen(embedder, LearnedModel.load(model_folder(name)))


class Guardrail:
    """Deterministic red-flag screen. With the learned layer loaded (the default), the learned model decides,
    reading the text's meaning and everything the rules saw; without it (model file missing or refused),
    the rules decide with exemplar similarity as a recall safety net, and the log says a layer is off."""

    def __init__(self, guidance: dict[str, Guidance], audit: AuditLog | None = None,
                 exemplars: ExemplarMatcher | None = None,
                 learned: LearnedScreen | FinetunedScreen | None = None):
        self.guidance = guidance
        self.audit = audit
        self.exemplars = exemplars
        self.learned = learned

    @property
    def screen_version(self) -> str:
        """What decided: the learned model's version, or the rules alone."""
        return f"learned:{self.learned.version}" if self.learned else "rules"

    @classmethod
    def from_settings(cls, settings, *, use_exemplars: bool = True, use_learned: bool = True) -> Guardrail:
        """Guidance from settings.guardrails_dir, audit log at settings.audit_log_path, shared embedder."""
        guidance = load_guidance(settings.guardrails_dir)
        from service.fingerprint import Fingerprinter

        audit = AuditLog(settings.audit_log_path, Fingerprinter.from_settings(settings),
                         raw_text=bool(settings.audit_raw_text))
        matcher = learned = None
        if use_exemplars or use_learned:
            try:
                from ingest.embedding import get_base_embedder

                # the MiniLM as shipped, never the answering's dense adapter: the models and exemplars here
                # were fitted on its vectors (and a red-flag decision must not move with retrieval's model)
                embedder = get_base_embedder(settings)
                if use_learned:
                    try:
                        learned = _load_learned(settings, embedder)
                    except ModelError:  # the rules and exemplars still screen; say loudly what is off
                        log.exception("red-flag learned layer disabled: model refused")
                if use_exemplars and learned is None:
                    matcher = ExemplarMatcher(embedder, load_exemplars())
            except Exception:  # the rules alone still screen every request; say loudly that a layer is off
                log.exception("red-flag embedding layers disabled: embedder could not be loaded")
        return cls(guidance, audit, matcher, learned)

    def _decide_text(self, text: str) -> tuple[str, str, float] | None:
        """(category, why, strength) when this text flags. Strength orders candidates: the model's
        probability, or 1.0 for a rules or exemplar verdict."""
        result = detect(text)
        if self.learned is not None and len(TOKEN.findall(text)) >= MIN_MODEL_WORDS:
            score = self.learned.score(text)
            if score.probability < self.learned.threshold_for(has_finding(result)):
                return None
            category = result.verdict.category if result.verdict else score.category
            if category not in self.guidance:  # every category has guidance (load_guidance checks); be safe
                category = "haemodynamic_instability"
            why = f"learned {self.learned.version} p={score.probability:.3f}"
            why += f"; rules: {result.verdict.rule}" if result.verdict else ""
            return category, why, score.probability
        if result.verdict:
            return result.verdict.category, result.verdict.rule, 1.0
        if self.exemplars is not None and result.uncertain:
            match = self.exemplars.match(text)
            ex = match.exemplar if match else None
            if match and ex and ex.category is not None:  # a match is a positive: its category is named
                why = f"exemplar {ex.id} (cosine {match.similarity:.3f}, margin {match.margin:.3f})"
                return ex.category, why, 1.0
        return None

    def _decide(self, question: str, history: Iterable[Any] | None) -> _Decision | None:
        question = question if isinstance(question, str) else str(question or "")
        candidates = [("question", question)]
        turn = _latest_user_turn(history)
        if turn is not None:
            candidates.append(("history", turn))
        hits: list[tuple[float, int, _Decision]] = []
        for source, text in candidates:
            hit = self._decide_text(clean_text(text))
            if hit:
                hits.append((hit[2], -len(hits), _Decision(hit[0], hit[1], source, text)))
        # the strongest candidate names the category ("what should I do?" after "she can't feel her legs")
        return max(hits, key=lambda h: h[:2])[2] if hits else None

    def _red_flag(self, decision: _Decision) -> RedFlag:
        g = self.guidance[decision.category]
        return RedFlag(decision.category, g.text, g.version, decision.rule)

    def check(self, question: str, history: list[dict] | None = None) -> RedFlag | None:
        """The decision without side effects (for evals and tests)."""
        decision = self._decide(question, history)
        return self._red_flag(decision) if decision else None

    def screen(self, question: str, history: list[dict] | None = None) -> RedFlag | None:
        """The decision, with one audit line written for every trigger."""
        decision = self._decide(question, history)
        if decision is None:
            return None
        flag = self._red_flag(decision)
        if self.audit is not None:
            self.audit.record(category=flag.category, rule=flag.rule, version=flag.version,
                              question=question if isinstance(question, str) else str(question or ""),
                              source=decision.source, matched_text=decision.text,
                              rules_version=flag.rules_version)
        return flag
