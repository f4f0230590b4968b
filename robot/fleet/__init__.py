"""Many robots, many homes: the central side's view of a fleet, and a simulator to load it.

- gaps:  per robot and boot, which numbered events a central consumer has not received (bridges can drop).
- world: a broker per home bridged to a central broker, made by the shipped set-up scripts, on loopback.
- sim:   lightweight robots that speak the robot's MQTT protocol, hundreds to a process.
- run:   `carebot fleet sim`, and the central desk that acknowledges and resolves alerts across the bridges.
"""
