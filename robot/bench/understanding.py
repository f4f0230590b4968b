"""`carebot bench understanding`: the dialog engine on the evaluation corpus (bench/corpus/*.yaml).

Each corpus item is said once into a fresh Conversation put in the item's context (open,
reminder, wellbeing, quiz with the pack's first question, privacy, speaking = the robot is
mid-reply, booting), and what the conversation decides is compared with what a care worker
expects. Per language it reports help recall, the false-help rate, how often not_help items
were asked about, the accuracy per context, and the time per utterance (wall clock, and the dialog
thread's own CPU time, which a loaded machine does not inflate) beside a same-run baseline: the bare
normalisation pass over the same sentences (the least any matcher must do).

The corpus measures generalisation, so an item whose whole wording stands anywhere in the language's
pack (a synonym, an answer, an example ...) is not scored: it is counted as `seen_in_pack` and left
out. Copying a corpus sentence into a pack therefore cannot raise a figure, and a pack entry that
happens to equal a short corpus item ("so long") does not flatter one.
"""

from __future__ import annotations

import argparse
import datetime as dt
import time
from collections import Counter
from pathlib import Path
from typing import Any

import yaml

from robot.conversation import Conversation
from robot.dialog_engine import DialogEngine
from robot.dialogs import load_pack, normalise

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT / "bench" / "corpus"
DIALOGS = ROOT / "dialogs"
HELPISH = ("help", "ask", "not_help")
STATE_OF = {"open": "listening", "reminder": "reminding", "privacy": "privacy", "speaking": "responding",
            "booting": "booting", "wellbeing": "listening", "quiz": "listening"}
TARGETS = {"help_recall": 1.0, "false_help_max": 0.02, "intent_accuracy": 0.95, "p99_ms_max": 3.0}


def load_corpus(path: Path) -> list[dict[str, str]]:
    """The items of one corpus file, each with text, context and expect (checked, with a clear error)."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict) or not isinstance(data.get("items"), list):
        raise ValueError(f"{path}: a corpus file has language and a list of items")
    items = []
    for i, item in enumerate(data["items"]):
        if not isinstance(item, dict) or not {"text", "context", "expect"} <= set(item):
            raise ValueError(f"{path}: item {i} needs text, context and expect")
        if item["context"] not in STATE_OF:
            raise ValueError(f"{path}: item {i}: unknown context {item['context']!r}")
        items.append({k: str(item[k]) for k in ("text", "context", "expect")})
    return items


def pack_wordings(pack_dir: Path) -> set[str]:
    """Every string in a pack's YAML files, normalised: what the pack has seen."""
    seen: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, str):
            seen.add(normalise(node))
        elif isinstance(node, dict):
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    for path in sorted(pack_dir.rglob("*.yaml")):
        walk(yaml.safe_load(path.read_text(encoding="utf-8")))
    return seen


def unseen(items: list[dict[str, str]], seen: set[str]) -> tuple[list[dict[str, str]], int]:
    """The items no pack wording equals, and how many were left out."""
    kept = [item for item in items if normalise(item["text"]) not in seen]
    return kept, len(items) - len(kept)


def conversation_in(engine: DialogEngine, context: str) -> Conversation:
    """A fresh conversation in a corpus context, reached as the robot reaches it."""
    conv = Conversation(engine)
    conv.set_context(STATE_OF[context])
    if context == "wellbeing":
        conv.start_checkin()
    elif context == "quiz":
        conv.context, conv.quiz_answer = "quiz", engine.pack.quiz[0][1]
    return conv


def correct(expect: str, label: str) -> bool:
    """Whether the decision is what the care worker expects (not_help: anything but help or ask)."""
    return label not in ("help", "ask") if expect == "not_help" else label == expect


def _ms(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000, 4)


def evaluate(engine: DialogEngine, items: list[dict[str, str]], rounds: int = 3) -> dict[str, Any]:
    """Every figure for one language; the time per utterance is the fastest of `rounds` runs."""
    now = dt.datetime(2026, 1, 1, 10, 0)
    labels: list[str] = []
    took = [float("inf")] * len(items)
    cpu = [float("inf")] * len(items)
    bare = [float("inf")] * len(items)
    clock, cpu_clock = time.perf_counter, time.thread_time
    for r in range(rounds):
        for i, item in enumerate(items):
            conv = conversation_in(engine, item["context"])
            t0 = clock()
            normalise(item["text"])
            t1 = clock()
            c1 = cpu_clock()
            decision = conv.decide(item["text"], 1.0, now)
            c2 = cpu_clock()
            t2 = clock()
            bare[i], took[i], cpu[i] = min(bare[i], t1 - t0), min(took[i], t2 - t1), min(cpu[i], c2 - c1)
            if r == 0:
                labels.append(decision.label)
    by = Counter[str]()
    for item, label in zip(items, labels, strict=True):
        e = item["expect"]
        by[f"n_{e}" if e in HELPISH else "n_intent"] += 1
        if e == "help":
            by["help_raised"] += label == "help"
            by["help_asked"] += label == "ask"
        elif e == "ask":
            by["ask_asked"] += label == "ask"
            by["ask_raised"] += label == "help"
        else:
            by["false_help"] += label == "help"
            by["not_help_asked" if e == "not_help" else "intent_asked"] += label == "ask"
            by["intent_right"] += e != "not_help" and label == e
    contexts: dict[str, dict[str, Any]] = {}
    for ctx in STATE_OF:
        mine = [(it["expect"], lab) for it, lab in zip(items, labels, strict=True) if it["context"] == ctx]
        intent = [(e, lab) for e, lab in mine if e not in HELPISH]
        contexts[ctx] = {"items": len(mine), "right": sum(correct(e, lab) for e, lab in mine),
                         "accuracy": round(sum(correct(e, lab) for e, lab in mine) / len(mine), 4) if mine else None,
                         "intent_accuracy": (round(sum(e == lab for e, lab in intent) / len(intent), 4)
                                             if intent else None)}
    needing = by["n_help"] + by["n_ask"]
    not_helpish = len(items) - needing
    missed = Counter(f"{it['context']}:{it['expect']}->{lab}" for it, lab in zip(items, labels, strict=True)
                     if not correct(it["expect"], lab) and not (it["expect"] == "ask" and lab == "help"))
    p99 = _ms(took, 0.99)
    recall = (by["help_raised"] + by["ask_asked"] + by["ask_raised"]) / needing if needing else 1.0
    false_help = by["false_help"] / not_helpish if not_helpish else 0.0
    accuracy = by["intent_right"] / by["n_intent"] if by["n_intent"] else 1.0
    result: dict[str, Any] = {
        "items": len(items),
        "help_recall": round(recall, 4),
        "help_items_raised_at_once": f"{by['help_raised']}/{by['n_help']}",
        "help_items_only_asked": by["help_asked"],
        "ask_items_asked": f"{by['ask_asked']}/{by['n_ask']}",
        "ask_items_raised_at_once": by["ask_raised"],
        "false_help_rate": round(false_help, 4),
        "ask_rate_on_not_help": round(by["not_help_asked"] / by["n_not_help"], 4) if by["n_not_help"] else None,
        "asked_on_other_intents": by["intent_asked"],
        "intent_accuracy": round(accuracy, 4),
        "contexts": contexts,
        "p50_ms": _ms(took, 0.5), "p99_ms": p99, "max_ms": _ms(took, 1.0),
        # the engine's own CPU time (this thread's), which other processes on a shared machine do not inflate
        "cpu_p50_ms": _ms(cpu, 0.5), "cpu_p99_ms": _ms(cpu, 0.99),
        "baseline_normalise_p50_ms": _ms(bare, 0.5), "baseline_normalise_p99_ms": _ms(bare, 0.99),
        "p50_ratio_to_baseline": round(_ms(took, 0.5) / max(_ms(bare, 0.5), 1e-4), 1),
        "misses": dict(missed.most_common()),
    }
    result["targets_met"] = {
        "help_recall_100pct": recall >= TARGETS["help_recall"],
        "false_help_le_2pct": false_help <= TARGETS["false_help_max"],
        "intent_accuracy_ge_95pct": accuracy >= TARGETS["intent_accuracy"],
        "p99_le_3ms": p99 <= TARGETS["p99_ms_max"],
    }
    return result


def bench_understanding(args: argparse.Namespace) -> dict[str, Any]:
    """Figures for every language that has both a pack and a corpus file (`--corpus` picks another
    folder: bench/dev is the development set that tuning may look at; the corpus stays unseen)."""
    corpus = getattr(args, "corpus", None) or CORPUS
    out: dict[str, Any] = {"corpus": str(corpus), "languages": {}}
    for path in sorted(Path(corpus).glob("*.yaml")):
        lang = path.stem
        if not (DIALOGS / lang / "pack.yaml").is_file():
            continue
        engine = DialogEngine(load_pack(DIALOGS / lang), seed=1)
        items, left_out = unseen(load_corpus(path), pack_wordings(DIALOGS / lang))
        out["languages"][lang] = evaluate(engine, items) | {"seen_in_pack": left_out}
    if not out["languages"]:
        raise SystemExit(f"no corpus found in {corpus} (<language>.yaml with a dialog pack of that language)")
    return out
