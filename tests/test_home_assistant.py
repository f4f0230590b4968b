"""Home Assistant discovery over a real mosquitto: status entities only, never clinical alerts."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest

from robot.behaviour import STATES
from robot.config import Config
from robot.events import Topics, schema, validate
from robot.ha_discovery import MODE_OF, device_state, discovery_messages
from robot.runtime import Runtime

from .broker import HASS, ROBOTS, SITE, STAFF, Broker, Client, robot_config
from .conftest import wait_for

PREFIX = "homeassistant"


@pytest.fixture
def hass(broker: Broker) -> Iterator[Client]:
    """Home Assistant's own account, asking for far more than it may have."""
    c = Client(broker, HASS)
    assert c.connect() == 0
    c.subscribe(f"{PREFIX}/#")
    c.subscribe(f"carebot/v1/{SITE}/#")
    yield c
    c.close()


@pytest.fixture
def robot(config: Config, broker: Broker) -> Iterator[Runtime]:
    rt = Runtime(robot_config(config, broker, home_assistant=True), simulate=True)
    rt.start()
    assert wait_for(lambda: rt.link is not None and rt.link.connected and rt.behaviour.state == "idle", 10)
    yield rt
    rt.stop()


def configs(client: Client) -> dict[str, dict[str, object]]:
    return {m.topic: m.json() for m in client.messages if m.topic.startswith(PREFIX + "/")}


def device(client: Client) -> list[dict[str, object]]:
    return [m.json() for m in client.of("/device")]


def test_every_behaviour_state_has_a_mode_and_alerting_looks_like_any_other_work() -> None:
    assert set(MODE_OF) == set(STATES)
    assert set(MODE_OF.values()) == set(schema("device")["properties"]["mode"]["enum"])
    for state in ("engaged", "listening", "responding", "reminding", "alerting"):
        assert device_state({"behaviour": state, "faults": []})["mode"] == "active"
    assert device_state({"behaviour": "paused", "faults": ["servo"]}) == {"mode": "paused", "problem": True}


def test_discovery_topics_and_state_topics_stay_in_the_robots_own_lanes() -> None:
    messages = discovery_messages(Topics(SITE, ROBOTS[0]), PREFIX, "1.2.3")
    assert len(messages) == 5
    for topic, raw in messages:
        body = json.loads(raw)
        validate("ha-discovery", body)
        assert topic.split("/")[2] == ROBOTS[0]  # the node level is the robot's account: the ACL's %u
        assert body["state_topic"].rsplit("/", 1)[-1] in ("status", "device")
    bad = dict(json.loads(messages[1][1]), state_topic=f"carebot/v1/{SITE}/{ROBOTS[0]}/alert")
    with pytest.raises(Exception, match="state_topic"):
        validate("ha-discovery", bad)


def test_the_robot_announces_five_status_entities_retained(robot: Runtime, broker: Broker) -> None:
    late = Client(broker, HASS)  # Home Assistant starting after the robot still finds them: retained
    assert late.connect() == 0
    late.subscribe(f"{PREFIX}/#")
    late.subscribe(f"carebot/v1/{SITE}/+/device")
    assert wait_for(lambda: len(configs(late)) == 5 and device(late), 5), [m.topic for m in late.messages]
    assert all(m.retain for m in late.messages)
    entities = configs(late)
    assert {t.split("/")[1] for t in entities} == {"binary_sensor", "sensor"}
    assert len({c["unique_id"] for c in entities.values()}) == 5
    for body in entities.values():
        validate("ha-discovery", body)
        assert body["device"] == next(iter(entities.values()))["device"]  # one device, five entities
    state = device(late)[-1]
    validate("device", state)
    assert state["mode"] == "active" and state["problem"] is False and state["robot"] == ROBOTS[0]
    late.close()


def test_home_assistant_sees_a_pause_at_once_and_never_an_alert(robot: Runtime, hass: Client,
                                                               broker: Broker) -> None:
    staff = Client(broker, STAFF)
    assert staff.connect() == 0
    staff.subscribe(f"carebot/v1/{SITE}/#")
    assert wait_for(lambda: device(hass), 5)
    # Heartbeats are every 30 s here: a pause must show at once, not at the next one.
    staff.publish(f"carebot/v1/{SITE}/{ROBOTS[0]}/cmd/pause",
                  json.dumps({"schema": "carebot/cmd-pause/1", "cmd_id": "1" * 32, "ts": time.time()}))
    assert wait_for(lambda: device(hass)[-1]["mode"] == "paused", 10)  # not the 30 s heartbeat's
    staff.publish(f"carebot/v1/{SITE}/{ROBOTS[0]}/cmd/resume",
                  json.dumps({"schema": "carebot/cmd-resume/1", "cmd_id": "2" * 32, "ts": time.time()}))
    assert wait_for(lambda: device(hass)[-1]["mode"] == "active", 10)

    robot.inject("engage")
    robot.inject("help")
    assert wait_for(lambda: staff.of("/alert"), 3)  # staff have the alert
    assert wait_for(lambda: robot.behaviour.state == "alerting", 2)
    time.sleep(0.5)
    assert device(hass)[-1]["mode"] == "active"
    topics = {m.topic.rsplit("/", 1)[-1] for m in hass.messages if m.topic.startswith("carebot/")}
    assert topics <= {"status", "device"}, topics  # the broker keeps alerts and heartbeats from it
    assert "alert" not in b"".join(m.payload for m in hass.messages).decode()
    staff.close()


def test_home_assistant_cannot_command_or_impersonate_a_robot(broker: Broker) -> None:
    ha = Client(broker, HASS)
    assert ha.connect() == 0
    assert ha.publish(f"carebot/v1/{SITE}/{ROBOTS[0]}/cmd/pause",
                      json.dumps({"schema": "carebot/cmd-pause/1", "cmd_id": "3" * 32, "ts": time.time()})) == 0x87
    for kind in ("status", "device", "alert"):
        assert ha.publish(f"carebot/v1/{SITE}/{ROBOTS[0]}/{kind}", b"{}") == 0x87, kind
        assert ha.publish(f"carebot/v1/{SITE}/{HASS}/{kind}", b"{}") == 0x87, kind  # nor pose as a robot
    ha.close()
    r1 = Client(broker, ROBOTS[0])
    assert r1.connect() == 0
    assert r1.publish(f"{PREFIX}/sensor/{ROBOTS[1]}/x/config", b"{}") == 0x87  # only under its own node
    assert r1.publish(f"{PREFIX}/sensor/{ROBOTS[0]}/x/config", b"{}") < 0x80
    r1.close()


def test_without_the_option_nothing_is_announced(config: Config, broker: Broker, hass: Client) -> None:
    rt = Runtime(robot_config(config, broker, heartbeat_s=1), simulate=True)
    rt.start()
    try:
        assert wait_for(lambda: rt.link is not None and rt.link.connected, 10)
        assert wait_for(lambda: hass.of("/status"), 3)
        time.sleep(1.5)  # a heartbeat has gone by
        assert configs(hass) == {} and device(hass) == []
    finally:
        rt.stop()


def test_the_templates_render_as_home_assistant_renders_them() -> None:
    jinja2 = pytest.importorskip("jinja2")
    env = jinja2.Environment(undefined=jinja2.StrictUndefined)
    prefix = f"{SITE}_{ROBOTS[0]}_"
    configs_ = {t.split("/")[-2].removeprefix(prefix): json.loads(raw)
                for t, raw in discovery_messages(Topics(SITE, ROBOTS[0]), PREFIX, "1.0")}
    assert set(configs_) == {"online", "mode", "problem", "outbox", "loop_p99"}

    def render(template: str, payload: dict[str, object]) -> str:
        return env.from_string(template).render(value_json=payload).strip()

    online = configs_["online"]
    assert [render(str(online["value_template"]), {"state": s}) for s in ("online", "offline", "stopped")] == [
        "ON", "OFF", "OFF"]
    availability = configs_["mode"]["availability"][0]  # type: ignore[index]
    assert [render(availability["value_template"], {"state": s}) for s in ("online", "offline", "stopped")] == [
        availability["payload_available"], availability["payload_not_available"],
        availability["payload_not_available"]]
    state = {"mode": "paused", "problem": True, "outbox_pending": 3, "loop_p99_ms": 0.21}
    assert render(str(configs_["mode"]["value_template"]), state) == "paused"
    assert render(str(configs_["problem"]["value_template"]), state) == "ON"
    assert render(str(configs_["problem"]["value_template"]), {**state, "problem": False}) == "OFF"
    assert render(str(configs_["outbox"]["value_template"]), state) == "3"
    assert render(str(configs_["loop_p99"]["value_template"]), state) == "0.21"
