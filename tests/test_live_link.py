"""The robot's end of the live view's socket (robot.live_link.Channel) when the view stops reading."""

from __future__ import annotations

import socket
import threading

from robot.live_link import Channel


def test_a_view_that_stops_reading_never_blocks_the_robot() -> None:
    """A view stopped (SIGSTOP, a terminal on a stalled SSH link) reads nothing: its socket fills. Sending
    must then drop messages, not block: the snapshot loop and every print of the robot's go through here."""
    ours, theirs = socket.socketpair()
    channel = Channel(ours)
    done = threading.Event()

    def flood() -> None:
        for _ in range(2000):
            channel.send(snap={"status": "x" * 2000})
        done.set()

    threading.Thread(target=flood, daemon=True).start()
    assert done.wait(30), "a send blocked on a view that reads nothing"
    assert channel.dropped > 0 and not channel.closed  # still open: the view may wake up
    theirs.close()
    ours.close()
