"""The control process's device factory: config in, the servo board's backend or its simulated twin out.

Devices are built once at start and passed to what uses them; a backend is one entry in a
table. The servo board's simulated twin is the virtual Maestro on a pseudo-terminal, which
the real driver opens through pyserial. The workers' devices (camera, face detector,
microphone, recogniser, speech synthesis) are built in the workers, from their options:
robot.workers.devices and hardware.speech_devices.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from hardware.maestro import MaestroBus
from hardware.maestro_pty import PtyMaestro
from hardware.maestro_servos import Channel, MaestroServos
from hardware.maestro_sim import VirtualMaestro
from hardware.servo import Servos
from robot.config import Config, ServoChannel

ERROR_POLL_HZ = 2  # how often the board is asked for its error register


def maestro_channel(c: ServoChannel) -> Channel:
    """A configured channel's calibration, as the Maestro backend takes it."""
    return Channel(c.channel, c.name, c.role, c.min_us, c.max_us, c.neutral_us, c.direction, c.range_deg,
                   c.speed, c.acceleration)


def maestro_channels(cfg: Config) -> list[Channel]:
    """Every configured channel's calibration."""
    return [maestro_channel(c) for c in cfg.servo.channels]


def make_board(cfg: Config) -> VirtualMaestro:
    """A virtual Maestro set up as a technician would set up the real one."""
    board = VirtualMaestro(device_number=cfg.servo.device_number, serial_timeout_s=cfg.servo.serial_timeout_ms / 1000)
    for c in cfg.servo.channels:
        home = c.neutral_us if c.home == "neutral" else None
        board.configure(c.channel, min_us=c.min_us, max_us=c.max_us, home_us=home,
                        speed=c.speed, acceleration=c.acceleration)
    return board


def maestro_bus(cfg: Config, port: str) -> MaestroBus:
    """The Maestro driver for the configured board on `port`."""
    limits = {c.channel: (c.speed, c.acceleration) for c in cfg.servo.channels if c.role != "led"}
    device = cfg.servo.device_number if cfg.servo.protocol == "pololu" else None
    return MaestroBus(port, device_number=device, baud=cfg.servo.baud,
                      reply_timeout_s=cfg.servo.reply_timeout_ms / 1000, limits=limits)


def _maestro(cfg: Config, port: str) -> Servos:
    return MaestroServos(maestro_bus(cfg, port), maestro_channels(cfg),
                         error_every=max(1, cfg.loop.rate_hz // ERROR_POLL_HZ))


SERVO_BACKENDS: dict[str, Callable[[Config, str], Servos]] = {"maestro": _maestro, "sim": _maestro}


def make_servos(cfg: Config, *, simulate: bool = False, link: Path | None = None) -> tuple[Servos, PtyMaestro | None]:
    """The configured servo board, or (simulate, or driver 'sim') the virtual Maestro started on a pty.

    The simulator is returned too, so that its owner can fault it and must stop it.
    """
    if simulate or cfg.servo.driver == "sim":
        sim = PtyMaestro(make_board(cfg), link=link).start()
        return SERVO_BACKENDS["sim"](cfg, sim.port), sim
    return SERVO_BACKENDS[cfg.servo.driver](cfg, cfg.servo.port), None
