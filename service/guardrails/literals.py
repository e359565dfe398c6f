"""Skip a rule's regular expression when the text lacks every literal any match of it must contain.

Why: the rules are ~90 large alternations (rules/*.yaml), and a typical question can match only a handful.
Running each on every text cost most of the screen (issue 11: "a check still <= 2 ms p95"). Each pattern
still decides on its own, unchanged; this module only proves, before it runs, that it cannot match:

1. `required_literals(pattern)` reads the pattern with the standard library's own regex parser (the one
   `re.compile` uses, so the analysis sees exactly what the engine runs) and derives a set of strings one of
   which every match contains ("chest (?:pain|tightness)" -> {"chest pain", "chest tightness"},
   "weak(?:ness)?" -> {"weak"}).
   When it cannot prove one (a pattern that may start with any digit, a case-insensitive flag), the answer
   is None and the pattern always runs.
2. `LiteralScreen` gathers the literals of every registered pattern into one trie-shaped expression and
   finds, in a single pass of the C regex engine over the text, which of them occur. A pattern is run only
   when one of its literals does.
3. `LiteralScreen.any_match` answers "does this big alternation match anywhere?" (the "patient now" and
   framing lists) by trying only the top-level branches whose own literals occur: "A|B" finds something
   exactly when A or B does. Only yes/no questions use it; where the match itself is read, the whole
   pattern runs.

Why not a library: pyahocorasick would do step 2, but it is a new compiled dependency for one pass over a
few hundred characters; the `re` engine does the same pass in 10-20 us here. Step 1 has no library; it is
checked against the patterns themselves in tests/test_guardrail_literals.py (random matches of every
registered pattern and branch, each must contain one of its literals) and by comparing screened and
unscreened results of the whole rule layer.
"""

from __future__ import annotations

import importlib
import itertools
import re
from collections.abc import Iterable, Iterator
from functools import cache, lru_cache
from typing import Any

# The standard library's parser and opcodes (private modules of `re`, stable across 3.11-3.13). On a Python
# without them nothing is proved and every pattern simply always runs: slower, never a different decision.
try:
    _parser: Any = importlib.import_module("re._parser")
    _c: Any = importlib.import_module("re._constants")
except ImportError:  # pragma: no cover - not on the Pythons this project runs on
    _parser = _c = None

Literals = frozenset[str]
_LIMIT = 64  # strings tracked per exact alternative set (a product beyond that is given up, not wrong)
_MIN_LENGTH = 2  # shorter literals ("a", "/") occur almost everywhere: the pattern then simply always runs


def _minimal(strings: Iterable[str]) -> Literals:
    """Drop every string that contains another of the set: the shorter one must occur either way."""
    kept: list[str] = []
    for s in sorted(set(strings), key=lambda x: (len(x), x)):
        if not any(k in s for k in kept):
            kept.append(s)
    return frozenset(kept)


def _strength(literals: Literals) -> tuple[int, int]:
    """Prefer longer literals (rarer), then fewer of them."""
    return min(min(map(len, literals)), 8), -len(literals)


def _sequence(items: Any) -> tuple[set[str] | None, Literals | None]:
    """(exact, required) for a sequence of parsed items: `exact` is every string the sequence can match
    when that set is small and finite, `required` a set one of which every match contains."""
    exact: set[str] | None = {""}
    all_exact = True
    candidates: list[Literals] = []
    for op, av in items:
        e, r = _item(op, av)
        if e is not None and exact is not None:
            product = {a + b for a in exact for b in e}
            if len(product) <= _LIMIT:
                exact = product
                continue
        all_exact = False  # the run of exact items ends here: what it matched is one candidate
        if exact and exact != {""}:
            candidates.append(frozenset(exact))
        if e is not None and len(e) <= _LIMIT:
            exact = set(e)
        else:
            exact = {""}
            if r is not None:
                candidates.append(r)
    if exact and exact != {""}:
        candidates.append(frozenset(exact))
    candidates = [c for c in candidates if "" not in c]
    best = max(candidates, key=_strength) if candidates else None
    return (exact if all_exact else None), (_minimal(best) if best else None)


def _as_required(exact: set[str] | None, required: Literals | None) -> Literals | None:
    if required is not None:
        return required
    if exact and "" not in exact:
        return _minimal(exact)
    return None


def _item(op: Any, av: Any) -> tuple[set[str] | None, Literals | None]:
    """(exact, required) for one parsed item; (None, None) when nothing can be said (always safe)."""
    if op is _c.LITERAL:
        return {chr(av)}, None
    if op is _c.AT or op is _c.ASSERT_NOT:
        return {""}, None  # zero width, and nothing it looks for is required
    if op is _c.ASSERT:
        return {""}, None  # zero width; what it looks for is required too, but need not be claimed
    if op is _c.SUBPATTERN:
        _group, add_flags, _del_flags, pattern = av
        if add_flags & _c.SRE_FLAG_IGNORECASE:
            raise _CaseInsensitive
        return _sequence(pattern)
    if op is _c.BRANCH:
        exacts, requireds = [], []
        for branch in av[1]:
            e, r = _sequence(branch)
            exacts.append(e)
            requireds.append(_as_required(e, r))
        exact: set[str] | None = None
        if all(e is not None for e in exacts):
            union = set().union(*(e for e in exacts if e is not None))
            exact = union if len(union) <= _LIMIT else None
        if any(r is None for r in requireds):
            return exact, None
        return exact, _minimal(itertools.chain.from_iterable(r for r in requireds if r is not None))
    if op is _c.IN:
        chars: list[str] = []
        for kind, value in av:
            if kind is _c.LITERAL:
                chars.append(chr(value))
            elif kind is _c.RANGE and value[1] - value[0] < 10:
                chars += [chr(c) for c in range(value[0], value[1] + 1)]
            else:  # a negated set, a category (\d, \w, \s), a wide range
                return None, None
        return set(chars), None
    if op is _c.MAX_REPEAT or op is _c.MIN_REPEAT or op is _c.POSSESSIVE_REPEAT:
        low, high, pattern = av
        e, r = _sequence(pattern)
        if low == 0:
            return (e | {""} if high == 1 and e is not None else None), None
        if low == high and e is not None and len(e) ** low <= _LIMIT:
            return {"".join(t) for t in itertools.product(sorted(e), repeat=low)}, None
        return None, _as_required(e, r)
    return None, None  # ANY, NOT_LITERAL, CATEGORY, GROUPREF, conditionals, atomic groups: give up


class _CaseInsensitive(Exception):
    """A case-insensitive part: literals would have to be case-folded; the pattern just always runs."""


@cache
def required_literals(pattern: str, flags: int = 0) -> Literals | None:
    """Strings one of which every match of `pattern` contains, or None when none can be proved (or only
    ones shorter than two characters)."""
    if _parser is None:
        return None
    parsed = _parser.parse(pattern, flags)
    if parsed.state.flags & _c.SRE_FLAG_IGNORECASE:
        return None
    try:
        exact, required = _sequence(parsed.data)
    except (_CaseInsensitive, AttributeError):  # AttributeError: an opcode this Python's `re` lacks
        return None
    if exact and "" not in exact:
        whole = _minimal(exact)
        if required is None or _strength(whole) >= _strength(required):
            required = whole
    if required is None or min(map(len, required)) < _MIN_LENGTH:
        return None
    return required


def top_level_alternatives(source: str) -> list[str] | None:
    """`source` cut at its top-level `|` ("a|b(?:c|d)" -> ["a", "b(?:c|d)"]), or None when the cut would
    not be plain (backreferences, conditionals, comments: a branch alone could mean something else).

    Why by hand: the standard parser does not keep source positions and rewrites alternations (a shared
    prefix is factored out), so it cannot give the branches back as text. Only escapes, character sets and
    parentheses matter for finding the top level; each branch must compile on its own, and the tests
    compare the branches with the whole pattern on random and constructed texts."""
    if re.search(r"\\[1-9]|\(\?P=|\(\?\(|\(\?#|\(\?[a-z]*x", source):
        return None
    parts, depth, start, i, n = [], 0, 0, 0, len(source)
    while i < n:
        ch = source[i]
        if ch == "\\":
            i += 2
            continue
        if ch == "[":  # a set: "]" right after "[" or "[^" is a member, not the end
            i += 1
            if i < n and source[i] == "^":
                i += 1
            if i < n and source[i] == "]":
                i += 1
            while i < n and source[i] != "]":
                i += 2 if source[i] == "\\" else 1
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == "|" and depth == 0:
            parts.append(source[start:i])
            start = i + 1
        i += 1
    parts.append(source[start:])
    return parts if depth == 0 and "|".join(parts) == source else None


def trie_pattern(words: Iterable[str]) -> str:
    """A regex matching exactly `words`, greedy, so at any position it matches the longest word there."""
    root: dict[str, dict] = {}
    for word in words:
        node = root
        for ch in word:
            node = node.setdefault(ch, {})
        node[""] = {}

    def emit(node: dict[str, dict]) -> str:
        kids = [re.escape(ch) + emit(sub) for ch, sub in sorted(node.items()) if ch]
        if not kids:
            return ""
        body = kids[0] if len(kids) == 1 else "(?:" + "|".join(kids) + ")"
        return f"(?:{body})?" if "" in node else body

    return emit(root)


class LiteralScreen:
    """The registered patterns of one kind of text (the normalised question) and their literals.

    `present(text)` finds every registered literal occurring in `text` in one pass: a zero-width lookahead
    tries the trie at each position, so overlapping literals are all seen; the trie yields the longest
    literal starting there, and every other literal starting there is a prefix of it (`_prefixes`)."""

    def __init__(self) -> None:
        self._needs: dict[re.Pattern[str], Literals | None] = {}
        self._branches: dict[re.Pattern[str], tuple[tuple[re.Pattern[str], Literals | None], ...]] = {}
        self._scan: re.Pattern[str] | None = None
        self._prefixes: dict[str, Literals] = {}
        self.enabled = True  # False: every pattern runs (the reference behaviour, for tests)
        self._last: tuple[str | None, Literals] = (None, frozenset())

    def add(self, pattern: re.Pattern[str]) -> re.Pattern[str]:
        """Register `pattern` (at import time); returns it, so a module can wrap its compile call."""
        if pattern not in self._needs:
            self._needs[pattern] = required_literals(pattern.pattern, pattern.flags)
            parts = top_level_alternatives(pattern.pattern) or []
            if len(parts) > 1:  # each branch with the whole pattern's flags, global inline ones included
                branches = [re.compile(part, pattern.flags) for part in parts]
                self._branches[pattern] = tuple((b, required_literals(b.pattern, b.flags)) for b in branches)
            self._scan = None
            self.forget()
        return pattern

    def forget(self) -> None:
        """Drop the memoised texts (a new pattern was registered, or a benchmark wants a cold start)."""
        self._present.cache_clear()
        self._last = (None, frozenset())

    def prepare(self) -> None:
        """Build the scan now (at start-up, once every rule module has registered) rather than on the first
        request (~0.1 s)."""
        if self._scan is None:
            self._build()

    def needs(self, pattern: re.Pattern[str]) -> Literals | None:
        return self._needs[pattern]

    def _build(self) -> re.Pattern[str]:
        needs = [*self._needs.values(), *(n for bs in self._branches.values() for _, n in bs)]
        words = sorted(set().union(*(n for n in needs if n is not None)))
        known = set(words)
        self._prefixes = {w: frozenset(w[:k] for k in range(1, len(w) + 1)) & known for w in words}
        self._scan = re.compile(f"(?=({trie_pattern(words)}))") if words else re.compile(r"(?!)")
        return self._scan

    @lru_cache(maxsize=16)  # noqa: B019 - one screen per process; a few texts in flight at a time
    def _present(self, text: str) -> Literals:
        scan = self._scan or self._build()
        longest = set(scan.findall(text))  # the longest literal at each position, each word once
        if not longest:
            return frozenset()
        prefixes = self._prefixes
        return frozenset().union(*(prefixes[word] for word in longest))

    def present(self, text: str) -> Literals:
        """The registered literals occurring in `text` (memoised for the last few texts; the very last one
        by identity, as every rule module asks about the same normalised string in turn)."""
        last = self._last
        if last[0] is text:
            return last[1]
        found = self._present(text)
        self._last = (text, found)  # one tuple, swapped whole: safe to read from another thread
        return found

    def possible(self, pattern: re.Pattern[str], text: str) -> bool:
        """False only when `pattern` cannot match anywhere in `text` (nor in any part of it). A pattern
        never registered is always possible."""
        needs = self._needs.get(pattern)
        return needs is None or not self.enabled or not needs.isdisjoint(self.present(text))

    def any_match(self, pattern: re.Pattern[str], text: str, pos: int = 0, endpos: int | None = None) -> bool:
        """`pattern.search(text, pos, endpos) is not None`, trying only the top-level branches whose literals
        occur (a search for "A|B" finds something exactly when A or B does)."""
        end = len(text) if endpos is None else endpos
        if not self.enabled:
            return pattern.search(text, pos, end) is not None
        if not self.possible(pattern, text):
            return False
        branches = self._branches.get(pattern)
        if not branches:
            return pattern.search(text, pos, end) is not None
        present = self.present(text)
        return any(branch.search(text, pos, end) is not None for branch, needs in branches
                   if needs is None or not needs.isdisjoint(present))

    def finditer(self, pattern: re.Pattern[str], text: str) -> Iterator[re.Match[str]]:
        """`pattern.finditer(text)`, empty when it cannot match."""
        return pattern.finditer(text) if self.possible(pattern, text) else iter(())


# Everything matched against normalise() output, registered by the rule modules as they load.
NORMALISED = LiteralScreen()
