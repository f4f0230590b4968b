"""Loading and checking config files: TOML in, a frozen Config or every problem at once.

Each problem names the file, the line where it can be found, the key path, the bad value
and what is allowed. Relative paths are taken relative to the directory of the config file.
"""

from __future__ import annotations

import difflib
import os
import re
import tomllib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from robot.config import INLINE_SECRETS, Config
from robot.errors import ConfigError, Problem, read_input

SYSTEM_CONFIG = Path("/etc/carebot/carebot.toml")
SOURCE_CONFIG = Path(__file__).resolve().parent.parent / "config" / "carebot.toml"


def default_config() -> Path:
    """The config used when --config is not given: $CAREBOT_CONFIG, /etc, or the source tree's."""
    env = os.environ.get("CAREBOT_CONFIG")
    if env:
        return Path(env)
    return SYSTEM_CONFIG if SYSTEM_CONFIG.exists() else SOURCE_CONFIG


def load_config(path: str | os.PathLike[str]) -> Config:
    """Parse and validate a config file, or raise ConfigError naming every problem."""
    config, problems = _parse(Path(path))
    if problems or config is None:
        raise ConfigError(problems)
    return config


def check_config(path: str | os.PathLike[str]) -> list[Problem]:
    """Every problem with a config file, empty when it is good."""
    return _parse(Path(path))[1]


def _parse(path: Path) -> tuple[Config | None, list[Problem]]:
    name = str(path)
    text, problems = read_input(path, "file")
    if text is None:
        return None, problems
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        line = _toml_error_line(str(exc))
        return None, [Problem(name, "", f"not valid TOML: {exc}", line=line, show_value=False)]
    raw = _resolve_paths(raw, path.parent)
    try:
        config = Config.model_validate(raw)
    except ValidationError as exc:
        return None, [_problem(name, text, err) for err in exc.errors()]
    config = config.model_copy(update={"source": path.resolve()})
    return config, _missing_files(config, name, text)


def _resolve_paths(raw: dict[str, Any], base: Path) -> dict[str, Any]:
    """Make the path-valued keys absolute, relative to the config file's directory."""
    keys = {("robot", "state_dir"), ("mqtt", "ca_file"), ("mqtt", "password_file"),
            ("privacy", "site_key_file"), ("vision", "path"), ("vision", "yunet_model"), ("dialogs", "path"),
            ("speech", "model"), ("speech", "out_dir"), ("loop", "status_file"), ("nursecall", "record_file"),
            ("screen", "key_file")}
    out = {k: (dict(v) if isinstance(v, dict) else v) for k, v in raw.items()}
    for section, key in keys:
        table = out.get(section)
        if isinstance(table, dict) and isinstance(table.get(key), str):
            p = Path(table[key]).expanduser()
            table[key] = str(p if p.is_absolute() else (base / p).resolve())
    return out


def _missing_files(config: Config, name: str, text: str) -> list[Problem]:
    problems = []
    for section, key, value in (
        ("mqtt", "ca_file", config.mqtt.ca_file),
        ("mqtt", "password_file", config.mqtt.password_file),
        ("privacy", "site_key_file", config.privacy.site_key_file),
    ):
        if value is not None and not value.is_file():
            problems.append(Problem(name, f"{section}.{key}", "no such file", str(value),
                                    _find_line(text, (section, key))))
    model = config.speech.model
    vosk = config.speech.enabled and config.speech.recogniser == "vosk"
    if vosk and model is not None and not (model / "am" / "final.mdl").is_file():
        problems.append(Problem(name, "speech.model", "no Vosk model there; install one with: carebot model install "
                                "PATH_OR_URL --sha256 SHA256", str(model), _find_line(text, ("speech", "model"))))
    if config.mqtt.enabled and config.mqtt.tls and config.mqtt.ca_file is None:
        problems.append(Problem(name, "mqtt.ca_file", "TLS is on, so name the broker's CA certificate file",
                                None, _find_line(text, ("mqtt",))))
    return problems


def _problem(name: str, text: str, err: Any) -> Problem:
    loc = tuple(err["loc"])
    path = ".".join(str(p) for p in loc)
    line = _find_line(text, loc)
    kind = err["type"]
    if kind == "extra_forbidden":
        key = str(loc[-1])
        if key in INLINE_SECRETS:
            msg = f"secrets are never written inline; put it in a file and set {INLINE_SECRETS[key]}"
            return Problem(name, path, msg, "***", line)
        keys = _allowed_keys(loc[:-1])
        guess = difflib.get_close_matches(key, keys, n=1)
        hint = f" (did you mean '{guess[0]}'?)" if guess else ""
        msg = f"unknown key{hint}; allowed here: {', '.join(keys)}"
        return Problem(name, path, msg, err.get("input"), line, show_value=False)
    if kind == "missing":
        return Problem(name, path, "required key is missing", None, line, show_value=False)
    msg = str(err["msg"])
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, "):]
    allowed = _allowed_range(loc)
    if allowed and kind in ("greater_than_equal", "less_than_equal", "greater_than", "less_than",
                            "int_parsing", "int_type", "float_parsing", "float_type", "int_from_float"):
        msg += f" (allowed: {allowed})"
    value = err.get("input")
    return Problem(name, path, msg, value, line, show_value=not isinstance(value, dict))


def _walk(loc: tuple[Any, ...]) -> tuple[Any, Any]:
    """The model holding the last key of `loc`, and that key's field (or None)."""
    model: Any = Config
    field = None
    for part in loc:
        if isinstance(part, int):
            continue
        if model is None:
            return None, None
        field = model.model_fields.get(part)
        if field is None:
            return model, None
        ann = field.annotation
        args = getattr(ann, "__args__", ())
        inner = [a for a in (ann, *args) if isinstance(a, type) and issubclass(a, BaseModel)]
        inner += [x for a in args for x in getattr(a, "__args__", ()) if isinstance(x, type)
                  and issubclass(x, BaseModel)]
        model = inner[0] if inner else None
    return model, field


def _allowed_keys(loc: tuple[Any, ...]) -> list[str]:
    model, _ = _walk(loc)
    if model is None:
        return []
    return [k for k in model.model_fields if k != "source"]


def _allowed_range(loc: tuple[Any, ...]) -> str:
    _, field = _walk(loc)
    if field is None:
        return ""
    lo = hi = None
    for meta in field.metadata:
        lo = getattr(meta, "ge", None) if getattr(meta, "ge", None) is not None else lo
        lo = getattr(meta, "gt", None) if getattr(meta, "gt", None) is not None else lo
        hi = getattr(meta, "le", None) if getattr(meta, "le", None) is not None else hi
    if lo is None and hi is None:
        return ""
    return f"{'' if lo is None else lo}..{'' if hi is None else hi}"


def _toml_error_line(message: str) -> int | None:
    m = re.search(r"line (\d+)", message)
    return int(m.group(1)) if m else None


def _find_line(text: str, loc: tuple[Any, ...]) -> int | None:
    """Best-effort line of a key path in TOML text, for error messages."""
    table: tuple[Any, ...] = ()
    counts: dict[str, int] = {}
    header_line: int | None = None
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        m = re.fullmatch(r"\[\[\s*([\w.-]+)\s*\]\]", line)
        if m:
            counts[m.group(1)] = counts.get(m.group(1), -1) + 1
            table = (*m.group(1).split("."), counts[m.group(1)])
        else:
            m = re.fullmatch(r"\[\s*([\w.-]+)\s*\]", line)
            if m:
                table = tuple(m.group(1).split("."))
        if m:
            if table == loc:
                return number
            if table and loc[: len(table)] == table:
                header_line = number
            continue
        k = re.match(r"([\w-]+)\s*=", line)
        if k and loc[: len(table) + 1] == (*table, k.group(1)):
            return number
    return header_line
