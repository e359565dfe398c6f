"""The literal screen (service/guardrails/literals.py) may only skip a pattern that cannot match.

Three checks, none reading the evaluation sets: the derivation on hand-made patterns; random matches of every
registered rule pattern, each of which must contain one of the literals the screen relies on; and the whole
rule layer with the screen on and off (the reference: every pattern runs) on constructed texts."""

from __future__ import annotations

import importlib
import random
import re
from typing import Any

import pytest

from service.guardrails import detector
from service.guardrails.literals import (
    NORMALISED,
    LiteralScreen,
    required_literals,
    top_level_alternatives,
    trie_pattern,
)
from service.guardrails.normalise import normalise

_c: Any = importlib.import_module("re._constants")
_parser: Any = importlib.import_module("re._parser")


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        (r"\bweak(?:ness|er)?\b", {"weak"}),
        (r"chest (?:pain|tightness)", {"chest pain", "chest tightness"}),
        (r"\b(\d{3,4}) ?ml\b", {"ml"}),
        (r"\bfoo(?=bar)", {"foo"}),
        (r"sats?|saturation", {"sat"}),
        (r"(?:ab){2}", {"abab"}),
        (r"\bhypo\w+ (?:tension|volaemia)", {" tension", " volaemia"}),
        (r"(?i)pain", None),  # case-insensitive: not screened
        (r"(?i:pain)|ache", None),
        (r"\d\d", None),  # nothing literal
        (r"pain|\w+", None),  # one branch has no literal
        (r"x|pain", None),  # a one-character literal is not worth screening
        (r"(?:pain)*", None),  # may match the empty string
    ],
)
def test_required_literals(pattern: str, expected: set[str] | None) -> None:
    got = required_literals(pattern)
    assert (None if got is None else set(got)) == expected


def test_trie_finds_overlapping_and_nested_literals() -> None:
    screen = LiteralScreen()
    for p in (r"chest pain", r"pain\w*", r"painful", r"ful", r"chest"):
        screen.add(re.compile(p))
    assert screen.present("chest painful") == {"chest pain", "pain", "painful", "ful", "chest"}
    assert screen.present("chestpain") == {"chest", "pain"}
    assert screen.present("") == frozenset()
    assert re.fullmatch(trie_pattern(["ab", "abc", "b"]), "abc")


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("a|b(?:c|d)", ["a", "b(?:c|d)"]),
        ("[|]|x", ["[|]", "x"]),
        (r"\||y", [r"\|", "y"]),
        ("[]|]|z", ["[]|]", "z"]),
        ("[^]|]|z", ["[^]|]", "z"]),
        (r"(?<!a|b)c|d", [r"(?<!a|b)c", "d"]),
        ("abc", ["abc"]),
        (r"(a)\1|b", None),  # a backreference cannot be read branch by branch
        ("(?P<x>a)(?P=x)|b", None),
        ("(?x) a | b", None),
    ],
)
def test_top_level_alternatives(source: str, expected: list[str] | None) -> None:
    assert top_level_alternatives(source) == expected


def test_a_global_flag_reaches_every_branch() -> None:
    screen = LiteralScreen()
    pattern = screen.add(re.compile("(?i)pain|ache"))
    assert screen.any_match(pattern, "PAIN") and screen.any_match(pattern, "ACHE")
    assert not screen.any_match(pattern, "PANE")


# --- random matches of every registered pattern -----------------------------------------------------------

_WORDS = ["the", "pt", "now", "no", "and", "of", "with", "a", "her", "12", "3.5", "/", "-", ","]
_CATEGORY = {"CATEGORY_DIGIT": "7", "CATEGORY_WORD": "x", "CATEGORY_SPACE": " ",
             "CATEGORY_NOT_DIGIT": "x", "CATEGORY_NOT_WORD": " ", "CATEGORY_NOT_SPACE": "x"}


def _sample(items: Any, rng: random.Random) -> str:
    """A random string the parsed sequence may match (assertions ignored: the caller keeps real matches)."""
    out = []
    for op, av in items:
        if op is _c.LITERAL:
            out.append(chr(av))
        elif op is _c.NOT_LITERAL:
            out.append("x" if chr(av) != "x" else "y")
        elif op is _c.ANY:
            out.append(rng.choice("xa "))
        elif op is _c.IN:
            choices = []
            for kind, value in av:
                if kind is _c.LITERAL:
                    choices.append(chr(value))
                elif kind is _c.RANGE:
                    choices.append(chr(rng.randint(value[0], min(value[1], value[0] + 30))))
                elif kind is _c.CATEGORY:
                    choices.append(_CATEGORY.get(str(value), "x"))
            negated = any(kind is _c.NEGATE for kind, _ in av)
            out.append(rng.choice("xyz ,7") if negated else rng.choice(choices or ["x"]))
        elif op is _c.SUBPATTERN:
            out.append(_sample(av[3], rng))
        elif op is _c.ATOMIC_GROUP:
            out.append(_sample(av, rng))
        elif op is _c.BRANCH:
            out.append(_sample(rng.choice(av[1]), rng))
        elif op in (_c.MAX_REPEAT, _c.MIN_REPEAT, _c.POSSESSIVE_REPEAT):
            low, high, sub = av
            count = rng.randint(low, min(high, low + 2))
            out.append("".join(_sample(sub, rng) for _ in range(count)))
        elif op is _c.CATEGORY:
            out.append(_CATEGORY.get(str(av), "x"))
    return "".join(out)


def _registered() -> list[re.Pattern[str]]:
    return [p for p in NORMALISED._needs if NORMALISED.needs(p) is not None]


def test_every_screened_pattern_is_registered_with_literals() -> None:
    assert len(_registered()) >= 59  # every finding rule at least


@pytest.mark.parametrize("pattern", _registered(), ids=lambda p: p.pattern[:40])
def test_random_matches_contain_a_required_literal(pattern: re.Pattern[str]) -> None:
    rng = random.Random(pattern.pattern)
    parsed = _parser.parse(pattern.pattern, pattern.flags)
    needs = NORMALISED.needs(pattern)
    assert needs is not None
    matched = 0
    for _ in range(300):
        text = " ".join([rng.choice(_WORDS), _sample(parsed.data, rng), rng.choice(_WORDS)])
        if pattern.search(text):
            matched += 1
            assert not needs.isdisjoint(NORMALISED.present(text)), (text, sorted(needs))
            assert NORMALISED.possible(pattern, text)
        assert NORMALISED.any_match(pattern, text) == (pattern.search(text) is not None), text
        assert NORMALISED.any_match(pattern, text, 4, 12) == (pattern.search(text, 4, 12) is not None), text
    assert matched  # the sampler reached the pattern at least once


def _branched() -> list[re.Pattern[str]]:
    return [b for branches in NORMALISED._branches.values() for b, _ in branches]


def test_the_big_alternations_are_read_branch_by_branch() -> None:
    assert len(NORMALISED._branches) >= 8 and len(_branched()) >= 100


@pytest.mark.parametrize("branch", _branched(), ids=lambda p: p.pattern[:40])
def test_a_match_of_one_branch_is_a_match_of_its_pattern(branch: re.Pattern[str]) -> None:
    """Random matches of each branch: the whole pattern matches too, and the branch screen says so."""
    rng = random.Random(branch.pattern)
    parsed = _parser.parse(branch.pattern, branch.flags)
    whole = next(p for p, bs in NORMALISED._branches.items() if any(b is branch for b, _ in bs))
    for _ in range(40):
        text = " ".join([rng.choice(_WORDS), _sample(parsed.data, rng), rng.choice(_WORDS)])
        expected = whole.search(text) is not None
        assert NORMALISED.any_match(whole, text) == expected, text
        if branch.search(text):
            assert expected, text


# --- the rule layer with and without the screen ------------------------------------------------------------

CONSTRUCTED = [
    "", "?", "help", "what now",
    "pt c/o CP radiating to L arm, sweaty, BP 80/40, HR 130",
    "no chest pain, no SOB, sats 97% RA",
    "denies headache, dizziness, leg weakness; mother had a stroke",
    "sudden onset worst headache of her life 20 min ago, GCS 13",
    "what is the first-line treatment for anaphylaxis in adults?",
    "confirmed PE on heparin, SBP 82 on norepinephrine - which thrombolytic dose?",
    "post-op day 2, drain 800 mL in the last hour, Hb 132 -> 84, pale and clammy",
    "he says he wants to end it all and has been hoarding his pills",
    "saddle numbness and can't pee since this morning, bilateral leg weakness",
    "temp 39.2, rigors, RR 28, confused, lactate 4.1, looks septic",
    "if she develops stridor or tongue swelling what should I do?",
    "history of seizures, fitting now for 6 minutes, not responding",
    "hives all over after amoxicillin, wheezy, lips swelling, feels faint",
    "pain 9/10 despite morphine, writhing, much worse than an hour ago",
    "sats 88% on 4L, was 95% this morning, oxygen from 2 to 10 litres",
    "facial droop and slurred speech, last seen well at 0800, FAST positive",
    "vomiting blood and black tarry stool, BP 90/50, feels dizzy",
    "power 2/5 both legs, perianal numbness, urinary retention 900 ml residual",
    "weaknes in LE, colapsed on ward, pt unresponsve",
    "Post-partum haemorrhage: first-line uterotonic?",
    "?PE - which scan",
    "within how many hours should primary PCI be done for STEMI?",
    "GI bleed, Hb 68, on apixaban - reversal agent dose?",
    "sob++ cp + palpitations & dizzy -> collapsed",
    "MAP 58, on noradrenaline, NEWS2 9, BM 2.1, GCS 8",
    "Day 2 after L1 vertebroplasty, routine observations, mobilising with physio. " * 12
    + "Now sats 83% on air and RR 32.",
    " ".join(f"pt{i} has cp and sob, no fever, bp {90 + i}/60." for i in range(30)),
]


@pytest.mark.parametrize("text", CONSTRUCTED)
def test_screen_changes_no_result(text: str) -> None:
    piece = detector._detect_piece.__wrapped__
    screened = piece(text)
    NORMALISED.enabled = False
    try:
        reference = piece(text)
    finally:
        NORMALISED.enabled = True
    assert screened == reference
    assert screened.normalised == normalise(text)
    for pattern in NORMALISED._needs:
        assert NORMALISED.any_match(pattern, screened.normalised) == (
            pattern.search(screened.normalised) is not None), pattern.pattern[:60]
