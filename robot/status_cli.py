"""`carebot status` and `carebot audit verify`: what a running robot says about itself, and its records."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

# The heavy modules (pydantic config, the audit log) load inside the commands: `carebot version` stays quick.


def cmd_status(args: argparse.Namespace) -> int:
    """Show the running robot's status file."""
    from hardware.pi_health import describe
    from robot.config_load import default_config, load_config
    from robot.core.housekeeping import status_path

    path = status_path(load_config(args.config or default_config()))
    if not path.exists():
        print(f"no status at {path}: is the robot running with this config?", file=sys.stderr)
        return 1
    status = json.loads(path.read_text())
    if args.json:
        print(json.dumps(status, indent=1))
        return 0
    loop = status["loop"]
    print(f"state       {status['state']}   (up {status['uptime_s']} s, boot {status['boot_id']})")
    print(f"faults      {', '.join(status['facts']['faults']) or 'none'}")
    print(f"loop        {loop['rate_hz']} Hz  lateness p50 {loop['p50_ms']} ms  p99 {loop['p99_ms']} ms  "
          f"max {loop['max_ms']} ms  missed {loop['missed_ticks']}  SCHED_FIFO {loop['sched_fifo']}")
    servo = status["servo"]
    print(f"servo       {'connected' if servo['connected'] else 'DISCONNECTED'} {servo['port']}")
    for name, w in status["workers"].items():
        print(f"worker      {name}: {w['state']} restarts {w['restarts']} {w['last_fault']}")
    speech = status.get("speech")
    if speech and (speech["speech_out_up"] or sum(speech[k] for k in ("finished", "failed", "cancelled"))):
        print(f"speech      {'MUTED (speaking)' if speech['speech_in_muted'] else 'listening'}, "
              f"{speech['outstanding']} sentence(s) to say; finished {speech['finished']}, "
              f"failed {speech['failed']}, cancelled {speech['cancelled']}")
        fault = speech.get("loudspeaker_fault")
        print(f"loudspeaker {'FAILING: ' + fault if fault else 'ok (the last sentence played, or none failed)'}")
    if speech and speech.get("simulated"):
        print(f"speech      SIMULATED: {', '.join(speech['simulated'])} (no resident is heard or spoken to "
              "through them)")
    turns = status.get("turns")
    if turns and any(v.get("n") for k, v in turns.items() if k.endswith("_ms")):
        print("turns       " + "  ".join(f"{k[:-3]} p50 {v['p50']} p90 {v['p90']} ms (n {v['n']})"
                                         for k, v in turns.items() if k.endswith("_ms") and v.get("n")))
        print(f"barge-in    stops {turns['barge_ins']['stop']}, heard over speech {turns['barge_ins']['help_heard']}")
    board = status.get("board")
    if board:
        faults = f"; FAULTS {', '.join(board['faults'])}" if board.get("faults") else ""
        print(f"board       {describe(board)}{faults}")
    if "simulator" in status:
        pos = status["simulator"]["positions_us"]
        print("simulator   " + "  ".join(f"{k} {v} us" for k, v in pos.items()))
    return 0


def cmd_audit_verify(args: argparse.Namespace) -> int:
    """Check the audit log's hash chain."""
    from robot.audit import verify
    from robot.config_load import default_config, load_config

    path = args.file or Path(load_config(args.config or default_config()).robot.state_dir) / "audit.jsonl"
    try:
        result = verify(Path(path))
    except OSError as exc:
        print(f"{path}: cannot read the audit log: {exc}")
        return 1
    if result.ok:
        kept = (f" in {result.files} files, from record {result.first_seq} (older ones rotated away)"
                if result.first_seq > 1 or result.files > 1 else "")
        print(f"{path}: {result.records} records{kept}, chain intact")
        if result.gaps:  # whole, but not complete: the robot wrote down that it could not write
            print(f"{path}: {result.lost} records were lost in {result.gaps} gaps, while the log could not write "
                  "(audit_gap records; staff had a storage fault)")
        if result.unclean_ends:  # a run killed, a power cut, or its last write failed: nothing could say so then
            print(f"{path}: {result.unclean_ends} runs ended without their stop record (killed, a power cut, or "
                  "their last write failed): each may have lost up to a flush window's records before it")
        return 0
    print(f"{path}: {result.problem} (after {result.records} good records)")
    return 1
