"""The robot's clock attacked on the help path: a simulated clock running fast, a wall clock stepped.

Turn-taking is the resident's own pace, in real time, whatever the robot's civil clock says: "no ...
actually yes" to the help question must call staff after a second of real time even when the simulated
clock runs at 60x (a second is a minute there) or the wall clock has just been stepped by NTP.
Words go in through the dialog thread; the alert comes out at a real staff subscriber over mosquitto.
"""

from __future__ import annotations

import datetime as dt

from robot.clock import Clock
from robot.config import Config

from .broker import SITE, STAFF, Broker, Client, alerts, robot_config
from .conftest import start_idle, wait_for


def test_no_then_yes_calls_staff_on_a_fast_simulated_clock(config: Config, broker: Broker) -> None:
    cfg = robot_config(config, broker, heartbeat_s=1)
    cfg = cfg.model_copy(update={"behaviour": cfg.behaviour.model_copy(update={"help_confirm_timeout_s": 30.0})})
    staff = Client(broker, STAFF)
    assert staff.connect() == 0 and staff.subscribe(f"carebot/v1/{SITE}/#") == [1]
    clock = Clock.simulated(dt.datetime(2026, 11, 27, 9, 0), speed=60)
    rt = start_idle(cfg, clock=clock)
    try:
        rt.inject("engage")
        rt.hear("my knee has been aching")
        assert wait_for(lambda: rt.behaviour.state == "confirming" and rt.said[-1].key == "help_confirm", 5)
        rt.hear("no")
        assert wait_for(lambda: rt.said[-1].key == "help_cancelled", 5)
        clock.advance(120)  # ... and a technician's "advance", or NTP stepping a real wall clock forward
        rt.hear("oh yes please")  # a moment later in real time: the answer changed
        assert wait_for(lambda: alerts(staff, type="help_request", state="raised"), 8), rt.said[-1]
        assert alerts(staff, type="help_request", state="raised")[0]["priority"] == "high"
    finally:
        rt.stop()
        staff.close()
