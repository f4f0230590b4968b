"""Home Assistant MQTT discovery for the robot's status entities, and never for clinical alerts.

When `mqtt.home_assistant` is on, the robot announces five entities under one HA device:
online (connectivity), mode, problem, outbox backlog and control-loop p99. Their state comes
from two topics only: the retained `status` and a retained `device` topic made for this. The
`device` payload is coarse by design: every state in which the robot is looking after a
resident (engaged, listening, responding, reminding, confirming, alerting) is reported as `active`, so a
dashboard cannot tell that someone asked for help. The Home Assistant account that
scripts/broker-setup.sh creates may read `status`, `device` and the discovery topics, and
nothing else: alerts and activity cannot reach Home Assistant even if it asks.

Discovery topics: <prefix>/<component>/<robot>/<site>_<robot>_<entity>/config, retained.
"""

from __future__ import annotations

import json
from typing import Any

from robot.events import Topics, validate

# Behaviour state -> the mode Home Assistant sees.
MODE_OF = {"booting": "starting", "idle": "active", "engaged": "active", "listening": "active",
           "responding": "active", "reminding": "active", "confirming": "active", "alerting": "active",
           "paused": "paused", "privacy": "privacy", "sleeping": "sleeping", "fault": "fault", "stopping": "stopping"}
MODES = sorted(set(MODE_OF.values()))


def device_state(health: dict[str, Any]) -> dict[str, Any]:
    """The fields of the `device` payload from the link's health snapshot."""
    state: dict[str, Any] = {"mode": MODE_OF.get(str(health.get("behaviour")), "starting"),
                             "problem": bool(health.get("faults"))}
    if health.get("loop_p99_ms") is not None:
        state["loop_p99_ms"] = round(float(health["loop_p99_ms"]), 3)
    return state


def discovery_messages(topics: Topics, prefix: str, version: str) -> list[tuple[str, bytes]]:
    """(topic, payload) of every discovery config, each checked against ha-discovery.json."""
    status, device = topics.event("status"), topics.event("device")
    uid = f"{topics.site}_{topics.robot}"
    # A clean stop says "stopped": unavailable too (HA ignores a payload that matches neither).
    availability = {"topic": status,
                    "value_template": "{{ 'online' if value_json.state == 'online' else 'offline' }}",
                    "payload_available": "online", "payload_not_available": "offline"}
    ha_device = {"identifiers": [f"carebot_{uid}"], "name": f"CareBot {topics.robot}", "manufacturer": "CareBot",
                 "model": "CareBot companion robot", "sw_version": version, "suggested_area": topics.site}
    entities: list[tuple[str, str, dict[str, Any]]] = [
        ("binary_sensor", "online", {"name": "Online", "device_class": "connectivity", "state_topic": status,
                                     "value_template": "{{ 'ON' if value_json.state == 'online' else 'OFF' }}"}),
        ("sensor", "mode", {"name": "Mode", "device_class": "enum", "options": MODES, "state_topic": device,
                            "value_template": "{{ value_json.mode }}", "icon": "mdi:robot"}),
        ("binary_sensor", "problem", {"name": "Problem", "device_class": "problem", "state_topic": device,
                                      "value_template": "{{ 'ON' if value_json.problem else 'OFF' }}"}),
        ("sensor", "outbox", {"name": "Events waiting to send", "state_topic": device,
                              "value_template": "{{ value_json.outbox_pending }}", "state_class": "measurement",
                              "entity_category": "diagnostic", "icon": "mdi:tray-full"}),
        ("sensor", "loop_p99", {"name": "Control loop p99 lateness", "state_topic": device,
                                "value_template": "{{ value_json.loop_p99_ms }}", "unit_of_measurement": "ms",
                                "state_class": "measurement", "entity_category": "diagnostic",
                                "icon": "mdi:timer-outline"}),
    ]
    out = []
    for component, entity, fields in entities:
        payload: dict[str, Any] = {**fields, "unique_id": f"carebot_{uid}_{entity}",
                                   "object_id": f"carebot_{uid}_{entity}", "device": ha_device}
        if entity != "online":
            payload["availability"] = [availability]
        validate("ha-discovery", payload)
        topic = f"{prefix}/{component}/{topics.robot}/{uid}_{entity}/config"
        out.append((topic, json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()))
    return out
