"""What the benchmarks share: the resident who talks to the robot while the loop is measured, and
progress lines (its own module, so that each bench module can use them without
importing robot.bench, which imports every bench)."""

from __future__ import annotations

import sys
import threading
import time
from typing import Any

from robot.config import QuietHoursSection

# Benchmarks talk to the robot at whatever hour they are run: in its quiet hours (21:00 to 07:00 by default) it
# sleeps and answers only a call for help, so a bench run in the evening measured a robot that said nothing
# (`bench screen` waited in vain for a reply, and failed CI). Their robots keep no quiet hours.
AWAKE = QuietHoursSection(enabled=False)


def progress(text: str) -> None:
    """A progress line on stderr (stdout is the bench's JSON)."""
    print(text, file=sys.stderr, flush=True)


# What a resident says while the loop is measured: the dialog thread understands it in the
# control process, so its matching competes with the tick for the GIL. The long rambling
# sentence is the engine's slowest case.
UTTERANCES = ["what time is it", "tell me a joke", "say that again please", "I feel a bit tired today",
              "my daughter came round yesterday and we looked at old photographs from the seaside "
              "and talked about the garden and the dog we used to have",
              "what's on today", "thank you very much"]


def drive(runtime: Any, stop: threading.Event) -> None:
    """Exercise the state machine, and talk to the robot, while the loop is measured."""
    script = ["engage", "speech_start", "heard", "disengage", "help", "ack", "resolve",
              "privacy_on", "privacy_off", "pause", "resume"]
    i = 0
    while not stop.wait(0.25):
        runtime.inject(script[i % len(script)])
        if i % 4 == 0:
            runtime.inject_look(((i * 37) % 200 - 100) / 100, 0.1)
        if i % 2 == 1:
            runtime.hear(UTTERANCES[(i // 2) % len(UTTERANCES)])
        i += 1


def talk_for(runtime: Any, seconds: float) -> tuple[Any, float]:
    """The loop's figures cleared, then a resident talking to the robot (`drive`) for `seconds`: the loop's
    figures of those seconds alone (its LoopStats), set aside before the resident is stopped so that the wait for
    her last step is not in them, and the seconds they cover as measured (a loaded machine oversleeps: a second
    asked for held 102 ticks at 100 Hz)."""
    runtime.loop.reset_stats()
    started = time.monotonic()
    stop = threading.Event()
    driver = threading.Thread(target=drive, args=(runtime, stop), daemon=True)
    driver.start()
    time.sleep(seconds)
    window, elapsed = runtime.loop.stats, time.monotonic() - started
    runtime.loop.reset_stats()
    stop.set()
    driver.join()
    return window, elapsed
