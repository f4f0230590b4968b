"""The care home's documents stay true to the software they describe.

docs/care-home/ is what a home reads before it switches the robot on: the impact assessment, the resident sheets,
the AI Act note and the staff and technician guides. Every config key, command, topic, file and test they name
must exist; the impact assessment must list every field of every message schema (a new field without its line
fails here); the resident sheets must read as plain language; and the one-page sheets must print on one page.
"""

from __future__ import annotations

import argparse
import html
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import textstat
import yaml
from markdown import markdown

from robot.cli import build_parser
from robot.config import Config

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs" / "care-home"
ASSESSMENT = DOCS / "impact-assessment.md"
SCHEMAS = ROOT / "robot" / "schemas"
DOCUMENTS = sorted(DOCS.glob("*.md"))
CODE = re.compile(r"`([^`\n]+)`")
TOP_LEVEL = ("robot/", "hardware/", "tests/", "docs/", "config/", "dialogs/", "scripts/", "systemd/", "bench/")


def spans(path: Path) -> list[str]:
    return CODE.findall(path.read_text(encoding="utf-8"))


def named(pattern: str) -> list[tuple[str, str]]:
    """(document, span) for every code span in the documents that matches `pattern`."""
    rx = re.compile(pattern)
    return [(doc.name, s) for doc in DOCUMENTS for s in spans(doc) if rx.match(s)]


def test_the_documents_are_all_there() -> None:
    names = {d.name for d in DOCUMENTS}
    for wanted in ("impact-assessment.md", "ai-act-transparency.md", "staff-guide.md", "staff-onepage.en.md",
                   "technician-guide.md", "resident-information.en.md", "resident-information.de.md",
                   "resident-information.ko.md", "resident-onepage.en.md", "resident-onepage.de.md"):
        assert wanted in names


def config_key_exists(section: str, key: str) -> bool:
    fields = Config.model_fields
    if section not in fields:
        return False
    model = fields[section].annotation
    return key in getattr(model, "model_fields", {})


@pytest.mark.parametrize(("doc", "span"), named(r"^\[[a-z_]+\] [a-z_]+"))
def test_every_config_key_named_exists(doc: str, span: str) -> None:
    section, key = re.match(r"^\[([a-z_]+)\] ([a-z_]+)", span).groups()  # type: ignore[union-attr]
    assert config_key_exists(section, key), f"{doc}: `{span}` names no config key"


def test_the_key_check_knows_a_wrong_key_from_a_right_one() -> None:
    assert config_key_exists("alerts", "not_reached_s")
    assert not config_key_exists("alerts", "not_reached")
    assert not config_key_exists("alert", "not_reached_s")


def subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def command_problem(words: list[str]) -> str | None:
    """What is wrong with a `carebot ...` command line as a document writes it, or None."""
    parser = build_parser()
    for word in words[1:]:
        if word.startswith("-"):
            option = word.split("=", 1)[0]
            if option not in parser._option_string_actions:
                return f"{' '.join(words)}: no option {option}"
            continue
        choices = subparsers(parser)
        if not choices:
            break  # a positional argument (a file, a channel, a value)
        if word not in choices:
            return f"{' '.join(words)}: no command {word!r} (there are {', '.join(sorted(choices))})"
        parser = choices[word]
    return None


@pytest.mark.parametrize(("doc", "span"), named(r"^carebot( |$)"))
def test_every_command_named_exists(doc: str, span: str) -> None:
    words = span.split()
    words = words[: words.index("|")] if "|" in words else words
    assert command_problem(words) is None, f"{doc}: {command_problem(words)}"


def test_the_command_check_finds_a_wrong_command_and_option() -> None:
    assert command_problem(["carebot", "servo", "move", "pan", "1600"]) is None
    assert command_problem(["carebot", "servo", "jiggle"]) is not None
    assert command_problem(["carebot", "selftest", "--loud"]) is not None


def topics() -> list[re.Pattern[str]]:
    spec = yaml.safe_load((ROOT / "docs" / "asyncapi.yaml").read_text(encoding="utf-8"))
    addresses = [c["address"] for c in spec["channels"].values()]
    return [re.compile("^" + re.sub(r"\\\{[a-z_]+\\\}", r"[^/]+", re.escape(a)) + "$") for a in addresses]


@pytest.mark.parametrize(("doc", "span"), named(r"^carebot/v1/"))
def test_every_topic_named_is_a_documented_channel(doc: str, span: str) -> None:
    assert any(t.match(span) for t in topics()), f"{doc}: `{span}` is no topic in docs/asyncapi.yaml"


def file_spans() -> list[tuple[str, str]]:
    found = [(d, s.split("::")[0]) for d, s in named(r"^(" + "|".join(TOP_LEVEL) + r")[\w./-]*(::\w+)?$")]
    for doc in DOCUMENTS:
        for target in re.findall(r"\]\(([^)#:]+)\)", doc.read_text(encoding="utf-8")):
            found.append((doc.name, str((DOCS / target).resolve().relative_to(ROOT))))
    return found


@pytest.mark.parametrize(("doc", "path"), file_spans())
def test_every_file_named_exists(doc: str, path: str) -> None:
    """A placeholder in capitals (`dialogs/LANG/pack.yaml`) stands for any name, and one must exist."""
    pattern = re.sub(r"\b[A-Z][A-Z_]+\b", "*", path)
    assert any(ROOT.glob(pattern)) if pattern != path else (ROOT / path).exists(), f"{doc}: `{path}` does not exist"


@pytest.mark.parametrize(("doc", "span"), named(r"^tests/[\w/]+\.py::\w+$"))
def test_every_test_named_exists(doc: str, span: str) -> None:
    path, name = span.split("::")
    assert re.search(rf"^def {name}\(", (ROOT / path).read_text(encoding="utf-8"), re.MULTILINE), \
        f"{doc}: no test {name} in {path}"


def schema_fields(schemas: Path = SCHEMAS) -> set[tuple[str, str]]:
    fields = set()
    for path in schemas.glob("*.json"):
        schema = json.loads(path.read_text(encoding="utf-8"))
        for name, prop in schema.get("properties", {}).items():
            fields.add((path.stem, name))
            for inner in prop.get("properties", {}):
                fields.add((path.stem, f"{name}.{inner}"))
    return fields


def assessment_fields() -> set[tuple[str, str]]:
    text = ASSESSMENT.read_text(encoding="utf-8")
    section = text.split("## 4. Fields of every message", 1)[1].split("\n## ", 1)[0]
    return {(m, f) for m, f in re.findall(r"^\| ([a-z-]+) \| `([a-z0-9_.]+)` \|", section, re.MULTILINE)}


def test_the_assessment_lists_every_field_of_every_schema_and_no_other() -> None:
    missing = schema_fields() - assessment_fields()
    stale = assessment_fields() - schema_fields()
    assert not missing, f"fields with no line in {ASSESSMENT.name} section 4: {sorted(missing)}"
    assert not stale, f"lines in {ASSESSMENT.name} section 4 for fields no schema has: {sorted(stale)}"


def test_a_new_schema_field_without_its_line_is_found(tmp_path: Path) -> None:
    for path in SCHEMAS.glob("*.json"):
        shutil.copy(path, tmp_path / path.name)
    alert = json.loads((tmp_path / "alert.json").read_text(encoding="utf-8"))
    alert["properties"]["resident_name"] = {"type": "string"}
    (tmp_path / "alert.json").write_text(json.dumps(alert), encoding="utf-8")
    assert schema_fields(tmp_path) - assessment_fields() == {("alert", "resident_name")}


def plain_text(path: Path) -> str:
    """The words a reader reads: markdown rendered, each heading and list item its own sentence."""
    rendered = markdown(path.read_text(encoding="utf-8"))
    rendered = re.sub(r"([^.!?:“”\"])\s*</(h\d|li)>", r"\1.</\2>", rendered)
    return html.unescape(re.sub(r"<[^>]+>", " ", rendered))


@pytest.mark.parametrize(("name", "lang", "least"), [
    ("resident-information.en.md", "en", 70), ("resident-onepage.en.md", "en", 70),
    ("resident-information.de.md", "de", 70), ("resident-onepage.de.md", "de", 70),
    ("staff-onepage.en.md", "en", 60),
])
def test_the_sheets_read_as_plain_language(name: str, lang: str, least: float) -> None:
    """Flesch reading ease (German: Amstad's form of it), measured by textstat: 70 and above is 'fairly easy'."""
    textstat.set_lang(lang)
    score = textstat.flesch_reading_ease(plain_text(DOCS / name))
    assert score >= least, f"{name}: Flesch reading ease {score}, below {least}: shorter sentences, plainer words"


def test_the_readability_measure_tells_plain_from_dense_text() -> None:
    textstat.set_lang("en")
    dense = ("Notwithstanding the aforementioned considerations, the organisational implementation of "
             "multidisciplinary interventions necessitates comprehensive documentation.")
    plain = "Say help. The robot calls the staff."
    assert textstat.flesch_reading_ease(dense) < 30 < textstat.flesch_reading_ease(plain)


@pytest.mark.skipif(not (shutil.which("chromium") and shutil.which("pdfinfo")),
                    reason="needs Debian's chromium and poppler-utils (scripts/setup.sh installs both)")
def test_each_one_page_sheet_prints_on_one_a4_page(tmp_path: Path) -> None:
    result = subprocess.run([str(ROOT / ".venv" / "bin" / "python"), str(ROOT / "scripts" / "print_sheets.py"),
                             str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    for source in DOCS.glob("*-onepage.*.md"):
        pdf = tmp_path / f"{source.stem}.pdf"
        info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True).stdout
        assert re.search(r"^Pages:\s+1$", info, re.MULTILINE), f"{pdf.name}: {info}"
        assert re.search(r"^Page size:.*\(A4\)", info, re.MULTILINE), info
        text = " ".join(subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True,
                                       check=True).stdout.split())
        first = re.sub(r"[*#]", "", source.read_text(encoding="utf-8").splitlines()[0]).strip()
        assert first in text, f"{pdf.name} does not show its title {first!r}"


def test_a_sheet_too_long_for_one_page_is_refused(tmp_path: Path) -> None:
    if not (shutil.which("chromium") and shutil.which("pdfinfo")):
        pytest.skip("needs Debian's chromium and poppler-utils (scripts/setup.sh installs both)")
    import importlib.util

    spec = importlib.util.spec_from_file_location("print_sheets", ROOT / "scripts" / "print_sheets.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    long_sheet = tmp_path / "long-onepage.en.md"
    long_sheet.write_text("# Long\n\n" + "\n\n".join(["Say help. The robot calls the staff."] * 60),
                          encoding="utf-8")
    with pytest.raises(module.PrintError, match="2 pages|3 pages|4 pages|5 pages"):
        module.print_sheet(long_sheet, tmp_path / "out")


def data_flows() -> str:
    text = ASSESSMENT.read_text(encoding="utf-8")
    return text.split("## 3. Data flows", 1)[1].split("\n## ", 1)[0]


def kept_files() -> set[str]:
    """Every file the software keeps about people or their care: the robot's (docs/storage.md's table, which
    tests/test_storage.py holds to a real run's state directory; simulator-only and passing files aside) and the
    staff web page's, as its code names them."""
    names = set()
    for line in (ROOT / "docs" / "storage.md").read_text(encoding="utf-8").splitlines():
        if line.startswith("| `STATE/") and "simulator only" not in line:
            names |= {re.sub(r"\.N$", "", Path(f).name)  # audit.jsonl.N: the older parts of audit.jsonl
                      for f in re.findall(r"`STATE/([\w.]+)`", line.split("|")[1])}
    names -= {"status.tmp"}
    web = (ROOT / "robot" / "staffweb" / "cli.py").read_text(encoding="utf-8")
    names |= set(re.findall(r'state_dir / "([\w.-]+)"', web))
    names |= {Path(p).name for p in re.findall(r'"--users", type=Path, default=Path\("([^"]+)"\)', web)}
    return names


def test_every_file_kept_is_a_data_flow_in_the_assessment() -> None:
    files = kept_files()
    assert {"outbox.sqlite", "audit.jsonl", "nursecall.sqlite", "impact.sqlite", "users"} <= files
    flows = data_flows()
    missing = sorted(f for f in files if f"`{f}`" not in flows and f"/{f}`" not in flows)
    assert not missing, f"files the software keeps with no data flow in {ASSESSMENT.name} section 3: {missing}"


def test_every_field_the_staff_web_audit_trail_writes_is_in_its_row() -> None:
    """The trail's records are about staff (their account, the address they logged in from)."""
    code = (ROOT / "robot" / "staffweb" / "app.py").read_text(encoding="utf-8")
    # written as self.audit.write(...) or, off the event loop, asyncio.to_thread(self.audit.write, ...)
    keys = {k for call in re.findall(r"self\.audit\.write[(,]([^)]*)\)", code) for k in re.findall(r"(\w+)=", call)}
    assert {"account", "address"} <= keys
    row = next(line for line in data_flows().splitlines() if line.startswith("| Staff web audit trail"))
    missing = sorted(k for k in keys - {"action", "ok"} if f"`{k}`" not in row)
    assert not missing, f"the staff web audit trail writes {missing}, which its row does not name"


def raised_priorities(kind: str) -> set[str]:
    """The priorities the code raises an alert of `kind` with (its literal arguments)."""
    found: set[str] = set()
    for path in (ROOT / "robot").rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        found |= set(re.findall(rf'raise_alert\("{kind}", "(\w+)"', text))
        found |= set(re.findall(rf'"type": "{kind}", "priority": "(\w+)"', text))
    return found


def test_the_staff_guide_gives_each_robot_fault_priority_the_code_raises() -> None:
    """A robot's own fault is medium; the nurse-call gateway's (its paging line is down) is high."""
    code = raised_priorities("robot_fault")
    assert {"medium", "high"} <= code
    rows = [line for line in (DOCS / "staff-guide.md").read_text(encoding="utf-8").splitlines()
            if line.startswith("| `robot_fault`")]
    documented = {p for row in rows for p in re.findall(r"\b(high|medium|low)\b", row.split("|")[2])}
    assert documented == code, f"staff-guide.md gives robot_fault {sorted(documented)}; the code raises {sorted(code)}"


RESIDENT_SHEETS = sorted(DOCS.glob("resident-*.md"))


@pytest.mark.parametrize("sheet", RESIDENT_SHEETS, ids=lambda p: p.name)
def test_a_resident_sheet_says_what_to_change_if_the_robot_hears_nothing_when_not_listening(sheet: Path) -> None:
    """'It still hears a call for help' is true only while `[privacy] microphone` is "wake_and_help" (the default):
    a home that closes the microphone must change the sentence, and the sheet says so where the home fills in."""
    text = sheet.read_text(encoding="utf-8")
    assert re.search(r"\[HOME:[^\]]*`\[privacy\] microphone`", text), f"{sheet.name}: no [HOME: ...] field for it"


ENGINES: dict[str, Any] = {}
SHEET_WORDS = [  # what the sheets tell residents to say, the context they say it in, and what the robot must do
    ("en", "help", "open", "help"), ("en", "I need a nurse", "open", "help"), ("en", "I have fallen", "open", "help"),
    ("en", "stop listening", "open", "privacy_on"), ("en", "help", "privacy", "help"),
    ("en", "hello Robin", "privacy", "wake"),
    ("de", "Hilfe", "open", "help"), ("de", "Ich brauche eine Schwester", "open", "help"),
    ("de", "Ich bin gestürzt", "open", "help"), ("de", "Hör auf zuzuhören", "open", "privacy_on"),
    ("de", "Hilfe", "privacy", "help"), ("de", "Hallo Robin", "privacy", "wake"),
    ("ko", "도와주세요", "open", "help"), ("ko", "간호사 불러 주세요", "open", "help"),
    ("ko", "넘어졌어요", "open", "help"), ("ko", "그만 들어", "open", "privacy_on"),
    ("ko", "도와주세요", "privacy", "help"), ("ko", "안녕 로빈", "privacy", "wake"),
]


@pytest.mark.parametrize(("lang", "words", "context", "label"), SHEET_WORDS)
def test_the_words_the_resident_sheets_teach_do_what_they_say(lang: str, words: str, context: str,
                                                              label: str) -> None:
    """Through the robot's own dialog engine and pack, as a resident would say them."""
    import datetime as dt

    from robot.bench.understanding import conversation_in
    from robot.dialog_engine import DialogEngine
    from robot.dialogs import load_pack

    sheet = DOCS / f"resident-information.{lang}.md"
    assert words.lower() in sheet.read_text(encoding="utf-8").lower(), f"{sheet.name} no longer teaches {words!r}"
    if lang not in ENGINES:
        ENGINES[lang] = DialogEngine(load_pack(ROOT / "dialogs" / lang), seed=1)
    decided = conversation_in(ENGINES[lang], context).decide(words.lower(), 1.0, dt.datetime(2026, 3, 2, 9, 30)).label
    assert decided == label, f"{lang}: the sheets teach {words!r}; in {context} the robot hears {decided!r}"


def fault_tokens_named() -> list[str]:
    """The fault tokens in the first column of the technician guide's fault table."""
    text = (DOCS / "technician-guide.md").read_text(encoding="utf-8")
    section = text.split("## 5. Finding faults", 1)[1].split("\n## ", 1)[0]
    return sorted({t for line in section.splitlines() if line.startswith("| `")
                   for t in re.findall(r"`([^`]+)`", line.split("|")[1])})


def fault_is_raised(token: str) -> bool:
    """A fault token the code raises: a literal, a worker's (worker_NAME), or a family (part_…)."""
    code = "\n".join(p.read_text(encoding="utf-8") for d in ("robot", "hardware") for p in (ROOT / d).rglob("*.py"))
    if token.endswith("…"):
        return f'f"{token[:-1]}{{' in code
    if token.startswith("worker_"):
        return 'f"worker_{name}"' in code and f'WorkerSpec("{token[7:]}"' in code
    return f'"{token}"' in code


@pytest.mark.parametrize("token", fault_tokens_named())
def test_every_fault_the_technician_guide_names_is_one_the_code_raises(token: str) -> None:
    assert fault_is_raised(token), f"technician-guide.md names the fault `{token}`, which no code raises"


def test_the_fault_check_knows_a_made_up_fault() -> None:
    assert len(fault_tokens_named()) >= 10
    assert not fault_is_raised("flux_capacitor") and not fault_is_raised("worker_toaster")
