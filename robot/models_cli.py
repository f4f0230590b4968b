"""`carebot model`: install, list and verify the speech models in the state directory."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def cmd_model(args: argparse.Namespace) -> int:
    """Install, list or verify speech models in the state directory."""
    from robot import models
    from robot.config_load import default_config, load_config

    state_dir = Path(args.state_dir) if args.state_dir else None
    if state_dir is None:
        state_dir = Path(load_config(args.config or default_config()).robot.state_dir)
    if args.model_command == "install":
        m = models.install(args.source, args.sha256, state_dir, name=args.name)
        print(f"installed {m.name}: {m.files} files, {m.bytes / 1e6:.1f} MB, in {m.path}")
        return 0
    if args.model_command == "list":
        found = models.list_models(state_dir)
        for m in found:
            print(f"{m.name:32s} {m.bytes / 1e6:8.1f} MB  {m.files:5d} files  sha256 {m.archive_sha256[:16]}…")
        if not found:
            print(f"no models in {models.models_dir(state_dir)}")
        return 0
    targets = [m.path for m in models.list_models(state_dir) if not args.name or m.name == args.name]
    if args.name and not targets:
        print(f"no installed model {args.name!r}", file=sys.stderr)
        return 1
    bad = 0
    for path in targets:
        problems = models.verify(path)
        for p in problems:
            print(f"{path.name}: {p}")
        if not problems:
            print(f"{path.name}: OK")
        bad += len(problems)
    return 1 if bad else 0
