"""The evaluation corpus (bench/corpus): well formed, big enough, covering every context, and unseen.

The corpus measures how the dialog engine generalises, so its sentences must be in no pack and in no test.
"""

from __future__ import annotations

import ast
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml

from robot.dialogs import INTENTS, WELLBEING, Pack, load_pack, normalise

from .conftest import ROOT

CORPUS = ROOT / "bench" / "corpus"
LANGS = ("en", "de", "ko")
HELPISH = {"help", "ask", "not_help"}
# What a careful care worker expects, per context. The README explains each label.
LABELS: dict[str, set[str]] = {
    "open": (set(INTENTS) - {"help"}) | {"none"} | HELPISH,
    "reminder": {"yes", "no", "repeat", "unclear", "help", "ask"},
    "wellbeing": set(WELLBEING) | {"help"},
    "quiz": {"right", "wrong", "help", "ask"},
    "privacy": {"wake", "ignore", "help"},
    "speaking": HELPISH,
    "booting": HELPISH,
}
# Minimum sizes: items that are not `not_help`, items that are, and help items.
MINIMA = {"en": (400, 100, 60), "de": (200, 100, 35), "ko": (120, 100, 25)}


def _items(lang: str) -> list[dict[str, Any]]:
    data = yaml.safe_load((CORPUS / f"{lang}.yaml").read_text(encoding="utf-8"))
    assert set(data) == {"language", "items"}, f"{lang}.yaml: top-level keys are language and items"
    assert data["language"] == lang
    items: list[dict[str, Any]] = data["items"]
    return items


def _pack_texts(pack: Pack) -> set[str]:
    """Every wording the pack itself holds: intent and wellbeing keywords, examples and paraphrases, quiz
    answers, names."""
    texts = {pack.wake_phrase, pack.robot_name}
    for spec in pack.intents.values():
        texts.update(spec.keywords + spec.examples + spec.paraphrases)
    for choice in pack.wellbeing.values():
        texts.update(choice.keywords + choice.examples + choice.paraphrases)
    for _ask, answers in pack.quiz:
        texts.update(answers)
    return {normalise(t) for t in texts}


def _test_strings() -> set[str]:
    """Every string in the other tests (literals in the code, the paraphrase and the dev wordings files), normalised."""
    found: set[str] = set()
    for path in (ROOT / "tests").glob("*.py"):
        if path.name != Path(__file__).name:
            found.update(normalise(n.value) for n in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
                         if isinstance(n, ast.Constant) and isinstance(n.value, str))
    paraphrases = yaml.safe_load((ROOT / "tests" / "paraphrases.yaml").read_text(encoding="utf-8"))
    for per_intent in paraphrases.values():
        for phrases in per_intent.values():
            found.update(normalise(p) for p in phrases)
    wordings = yaml.safe_load((ROOT / "tests" / "dev_wordings.yaml").read_text(encoding="utf-8"))
    for items in wordings.values():
        found.update(normalise(text) for text, _context, _expect in items)
    return found


@pytest.mark.parametrize("lang", LANGS)
def test_items_are_well_formed(lang: str) -> None:
    for i, item in enumerate(_items(lang)):
        where = f"{lang}.yaml item {i} ({item!r})"
        assert set(item) == {"text", "context", "expect"}, where
        assert isinstance(item["text"], str) and normalise(item["text"]), where
        assert item["context"] in LABELS, f"{where}: unknown context"
        # a bare yes or no in YAML 1.1 is a boolean: labels must be quoted strings
        assert isinstance(item["expect"], str) and item["expect"] in LABELS[item["context"]], f"{where}: bad label"


@pytest.mark.parametrize("lang", LANGS)
def test_corpus_is_big_enough_and_covers_every_context_and_intent(lang: str) -> None:
    items = _items(lang)
    labels = Counter(i["expect"] for i in items)
    least, least_not_help, least_help = MINIMA[lang]
    assert len(items) - labels["not_help"] >= least
    assert labels["not_help"] >= least_not_help
    assert labels["help"] >= least_help
    assert labels["ask"] >= 10
    by_context = {c: Counter(i["expect"] for i in items if i["context"] == c) for c in LABELS}
    for context, counts in by_context.items():
        assert counts["help"] >= 3, f"{lang}: too few help items in context {context}"
    pack = load_pack(ROOT / "dialogs" / lang)
    assert set(pack.intents) <= set(by_context["open"]), f"{lang}: intents missing in open context"
    assert by_context["open"]["none"] >= 5
    for context in ("reminder", "wellbeing", "quiz", "privacy"):
        missing = LABELS[context] - {"ask"} - set(by_context[context])
        assert not missing, f"{lang}: {context} context lacks {sorted(missing)}"


@pytest.mark.parametrize("lang", LANGS)
def test_no_item_is_repeated(lang: str) -> None:
    texts = Counter(normalise(i["text"]) for i in _items(lang))
    assert [t for t, n in texts.items() if n > 1] == []


@pytest.mark.parametrize("lang", LANGS)
def test_every_item_is_unseen_by_packs_and_tests(lang: str) -> None:
    pack_texts = _pack_texts(load_pack(ROOT / "dialogs" / lang))
    test_texts = _test_strings()
    texts = {normalise(i["text"]) for i in _items(lang)}
    assert sorted(texts & pack_texts) == [], "copied from the pack"
    assert sorted(texts & test_texts) == [], "copied into a test"
