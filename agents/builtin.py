"""The built-in agent: answers from the role's knowledge entries, with no model behind it.

Each entry's question is compared with the customer's message as weighted bags of words
(`agents.text`: case and accents folded, stopwords of the role's language dropped). Two
words match when they are equal, when one starts with the other of at least `MIN_PREFIX`
letters (``pay``/``payment``, ``horario``/``horarios``), or when they share a beginning of
at least `MIN_STEM` letters covering three quarters of the shorter (``envio``/``enviar``):
a crude stemmer that serves every supported language alike. A word is weighted by how rare
it is among the questions (inverse document frequency; a word of no question weighs 1),
and the score is a cosine:

    score = Σ matched weights / √(Σ message weights × Σ question weights)

The best entry scoring at least `THRESHOLD` answers. Otherwise the greeting answers the
first message of a conversation, and a polite fallback in the role's language any other.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from agents import phrases
from agents.roles import KnowledgeEntry, RoleSpec
from agents.text import contains_phrase, content_words, words

THRESHOLD = 0.3
MIN_PREFIX = 3
MIN_STEM = 4


@dataclass(frozen=True)
class Match:
    entry: KnowledgeEntry
    score: float


def _related(a: str, b: str) -> bool:
    if a == b:
        return True
    short, long = (a, b) if len(a) <= len(b) else (b, a)
    if len(short) >= MIN_PREFIX and long.startswith(short):
        return True
    common = next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), len(short))
    return common >= MIN_STEM and common * 4 >= len(short) * 3


@lru_cache(maxsize=8192)
def _question_words(question: str, language: str) -> frozenset[str]:
    # A worker answers many messages with the same roles: their questions are read once.
    return frozenset(content_words(question, language))


def best_match(entries: Sequence[KnowledgeEntry], message: str, language: str) -> Match | None:
    """The entry whose question best matches ``message``, if any scores `THRESHOLD`."""
    asked = set(content_words(message, language))
    if not asked or not entries:
        return None
    questions = [_question_words(entry.question, language) for entry in entries]
    count = len(entries)
    # Question words are weighted by the questions holding them; the message's words by the
    # questions holding a related word: (entries × words) checks per message word.
    holding = Counter(word for question in questions for word in question)

    def idf(found: int) -> float:
        return math.log((count + 1) / (found + 1)) + 1.0 if found else 1.0

    asked_weight = {
        word: idf(sum(1 for q in questions if any(_related(word, w) for w in q))) for word in asked
    }
    asked_total = sum(asked_weight.values())
    best: Match | None = None
    for entry, question in zip(entries, questions, strict=True):
        if not question:
            continue
        question_weight = sum(idf(holding[word]) for word in question)
        matched = sum(
            value
            for word, value in asked_weight.items()
            if any(_related(word, w) for w in question)
        )
        score = matched / math.sqrt(asked_total * question_weight)
        if score >= THRESHOLD and (best is None or score > best.score):
            best = Match(entry=entry, score=score)
    return best


def find_handoff_keyword(keywords: Sequence[str], message: str) -> str | None:
    """The first of ``keywords`` that ``message`` contains as whole words (any case, accents)."""
    message_words = words(message)
    for keyword in keywords:
        if contains_phrase(message_words, keyword):
            return keyword
    return None


@dataclass(frozen=True)
class BuiltinAnswer:
    text: str
    #: ``knowledge``, ``greeting`` or ``fallback``
    source: str


def answer(role: RoleSpec, message: str, *, first_message: bool) -> BuiltinAnswer:
    """What the built-in agent says to ``message``."""
    match = best_match(role.knowledge, message, role.language)
    if match is not None:
        return BuiltinAnswer(text=match.entry.answer, source="knowledge")
    if first_message and role.greeting.strip():
        return BuiltinAnswer(text=role.greeting, source="greeting")
    return BuiltinAnswer(text=phrases.fallback(role.language), source="fallback")
