"""What kind of answer a question asks for, and whether a sentence holds that kind of thing.

Why: a sentence that names the topic ("Osteoporosis treatment should be started after vertebroplasty") is
as similar to "which osteoporosis drugs after VP?" as the sentence that answers it ("Appropriate options
include bisphosphonates, denosumab and teriparatide"). The answer is told apart by its form: the list of
drugs, the number with its unit, the action. Deterministic patterns, cheap enough for every request.
"""

from __future__ import annotations

import re
from enum import StrEnum


class QuestionKind(StrEnum):
    QUANTITY = "quantity"  # how common / how many / what dose / how long / what threshold
    LIST = "list"  # which drugs / tests / criteria / signs
    ACTION = "action"  # when / what next / should I
    TEST = "test"  # how is it confirmed / diagnosed / which scan
    OTHER = "other"


QUANTITY_Q = re.compile(
    r"\bhow (?:much|many|long|often|common|soon|frequent(?:ly)?|quickly|rare|likely|high|low|far)\b"
    r"|\bwhat (?:is the |are the )?(?:dose|dosage|doses|percentage|proportion|fraction|rate|level|threshold|"
    r"cut-?offs?|target|targets|age|interval|duration|ratio|grade|score|number|regimen|maintenance dose)\b"
    r"|\b(?:dose|dosing|regimen|cut-?offs?|threshold|targets?|duration|%|mg|how many days|how many weeks)\b",
    re.IGNORECASE,
)
LIST_Q = re.compile(
    r"\b(?:which|what)\b(?:\s+\w+){0,3}?\s+(?:drugs?|medications?|meds|medicines|tests?|criteria|signs?|"
    r"symptoms?|features?|options?|investigations?|treatments?|therapies|factors?|causes?|complications?|"
    r"variables|items|components|standards|techniques|measures|sequences|arrangements|things|"
    r"classes|agents|inhalers?|antibiotics?)\b"
    r"|\blist\b|\bwhat goes into\b|\bwhat counts as\b|\bwhat are the\b|\binclude\b|\bcriteria\b",
    re.IGNORECASE,
)
ACTION_Q = re.compile(
    r"\bwhat(?:'s| is)? next\b|\bnext step\b|\bwhat (?:do|should) (?:i|we)\b|\bshould (?:i|we|he|she|they)\b"
    r"|\bwhen (?:can|should|do|is|to)\b|\bhow (?:do|should) (?:i|we) (?:manage|treat)\b|\bmanage"
    r"|\bhow (?:is|are) (?:\w+ ){1,3}?(?:treated|managed)\b",
    re.IGNORECASE,
)

TEST_Q = re.compile(
    r"\bhow (?:do|does|is|are|can|should|would) (?:\w+ ){0,3}?(?:confirm|diagnos|detect|identif|investigat|"
    r"prove|show|tell|exclude|rule)\w*|\bwhich (?:scan|imaging|test|investigation|sequence)s?\b"
    r"|\bwhat (?:scan|imaging|test|investigation)s?\b",
    re.IGNORECASE,
)
TEST_WORDS = re.compile(
    r"\b(?:MRI|CT|CTPA|x-?rays?|radiograph\w*|scan\w*|ultrasound|imaging|STIR|sequences?|ECG|echo\w*|"
    r"biops\w+|D-dimer|blood tests?|angiogra\w+|culture\w*|serology|confirm\w*|diagnos\w+)\b",
    re.IGNORECASE,
)

NUMBER_UNIT = re.compile(
    r"\d+(?:[.,]\d+)?\s*(?:-|–|to)?\s*\d*(?:[.,]\d+)?\s*"
    r"(?:%|per ?cent|mg|g\b|mcg|µg|micrograms?|ml|mL|mmol|µmol|kg|units?|hours?|h\b|days?|weeks?|months?|"
    r"years?|minutes?|min\b|mm ?hg|mmhg|times|/min|mL/min|breaths|beats|°|points?|doses?)",
    re.IGNORECASE,
)
ENUMERATION = re.compile(r"\w+, [\w -]+,? (?:and|or) \w+")
ACTION_WORDS = re.compile(
    r"\b(?:should|must|recommend(?:s|ed)?|requires?|needs?|start(?:ed)?|stop(?:ped)?|give|refer(?:ral)?|"
    r"repeat|urgent(?:ly)?|immediately|consider(?:ed)?|indicated|managed|management|treated)\b",
    re.IGNORECASE,
)

KIND_BONUS = 0.10  # a unit with the asked-for form beats a topic sentence within about this much cosine
TEST_BONUS = 0.20  # "how do we confirm it?" shares no word with "MRI with STIR … should be obtained"


def question_kind(question: str) -> QuestionKind:
    """The first matching kind, most specific first: a dose question with "which" wants the number."""
    if TEST_Q.search(question):
        return QuestionKind.TEST
    if QUANTITY_Q.search(question):
        return QuestionKind.QUANTITY
    if LIST_Q.search(question):
        return QuestionKind.LIST
    if ACTION_Q.search(question):
        return QuestionKind.ACTION
    return QuestionKind.OTHER


def kind_bonus(kind: QuestionKind, text: str, is_list: bool) -> float:
    """KIND_BONUS when `text` holds what `kind` asks for, else 0."""
    if kind is QuestionKind.QUANTITY:
        return KIND_BONUS if NUMBER_UNIT.search(text) else 0.0
    if kind is QuestionKind.LIST:
        return KIND_BONUS if is_list or ENUMERATION.search(text) else 0.0
    if kind is QuestionKind.ACTION:
        return KIND_BONUS if ACTION_WORDS.search(text) else 0.0
    if kind is QuestionKind.TEST:
        return TEST_BONUS if TEST_WORDS.search(text) else 0.0
    return 0.0
