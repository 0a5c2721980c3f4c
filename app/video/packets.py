"""Decode only the packets that the wanted frames need, reading a stream once (a live
stream, or any video in keyframes mode).

Each packet is decoded, held or skipped, in demux order:
- skipped: in keyframes mode every packet but the keyframes; with a lag bound (a live
  stream that skips on overload), every packet read while the bytes being read have waited
  longer than the bound since they arrived (`lag`). A skipped packet breaks the chain of
  references, so what follows it is skipped too, up to the next keyframe.
- held: a packet whose frame is not wanted waits, with the others since the decoder's
  last packet, until a wanted frame needs them; the next keyframe drops them undecoded.
  Packets are held only once the first group of pictures showed that they come in
  presentation order (no B-frames), so that a packet's time is its frame's.
- decoded: the rest, after the packets held before them.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Iterator
from typing import Protocol

import av

MAX_HELD = 512  # packets held at most; beyond, they are decoded (memory stays bounded)


class Arrivals(Protocol):
    """A live stream's source: when the bytes being read arrived, and how long ago that is
    (`app.video.sources.ChunkedSource`)."""

    @property
    def arrived(self) -> float: ...

    def lag(self) -> float: ...


class PacketFeed:
    """The frames of `stream` that `wants` (by time; None: every frame) and the rules above
    let through, with their times and arrivals. `skipped` counts the packets never decoded;
    `arrivals` and `max_lag_s` (both, or no lag bound) skip on overload."""

    def __init__(
        self,
        container: av.container.InputContainer,
        stream: av.VideoStream,
        fps: float,
        wants: Callable[[float], bool] | None = None,
        keyframes_only: bool = False,
        arrivals: Arrivals | None = None,
        max_lag_s: float | None = None,
    ) -> None:
        self.skipped = 0
        self._container, self._stream, self._fps, self._wants = container, stream, fps, wants
        self._keyframes_only, self._arrivals, self._max_lag_s = keyframes_only, arrivals, max_lag_s
        self._held: list[tuple[av.Packet, int, float | None]] = []
        self._chain = True  # nothing skipped since the last keyframe: the decoder can go on
        self._demuxed = 0
        self._fed: deque[tuple[int, float | None]] = deque()  # packets fed: position, arrival
        self._last_time = -math.inf
        self._in_order = True  # packet times never went back
        self._holding = False  # decided at the second keyframe
        self._keyframes_seen = 0

    def frames(self) -> Iterator[tuple[av.VideoFrame, float, float | None]]:
        """The decoded frames, their times (the frame's own, or its packet's position at the
        stream's rate) and when their bytes arrived (given `arrivals`), in presentation order."""
        for packet in self._container.demux(self._stream):
            if not packet.size:  # the demuxer's last packet, empty: the decoder gives what it holds
                self.skipped += len(self._held)
                self._held.clear()
                yield from self._decoded(packet)
                continue
            position, t = self._demuxed, self._time_of(packet)
            arrived = self._arrivals.arrived if self._arrivals is not None else None
            self._demuxed += 1
            if packet.is_keyframe:
                self._at_keyframe()
            behind = self._max_lag_s is not None and self._arrivals is not None and (
                self._arrivals.lag() > self._max_lag_s
            )
            if not self._chain or behind or (self._keyframes_only and not packet.is_keyframe):
                self.skipped += 1
                self._chain = False
                continue
            self._held.append((packet, position, arrived))
            if self._holding and not self._wants(t) and len(self._held) < MAX_HELD:
                continue
            for held, at, came in self._held:
                self._fed.append((at, came))
                yield from self._decoded(held)
            self._held.clear()

    def _decoded(self, packet: av.Packet) -> Iterator[tuple[av.VideoFrame, float, float | None]]:
        for frame in packet.decode():
            position, arrived = self._fed.popleft() if self._fed else (self._demuxed, None)
            if self._keyframes_only and not frame.key_frame:
                continue
            yield frame, float(frame.time) if frame.time is not None else position / self._fps, arrived

    def _at_keyframe(self) -> None:
        """A keyframe: the packets held are dropped, the chain starts again, and at the
        second one whether packets can be held is known."""
        self.skipped += len(self._held)
        self._held.clear()
        self._chain = True
        self._keyframes_seen += 1
        if self._keyframes_seen == 2:
            reorders = self._stream.codec_context.has_b_frames
            self._holding = self._wants is not None and self._in_order and not reorders

    def _time_of(self, packet: av.Packet) -> float:
        """A packet's presentation time; without one, the previous one's plus a frame."""
        if packet.pts is None:
            t = self._last_time + 1 / self._fps if self._demuxed else 0.0
        else:
            t = float(packet.pts * packet.time_base)
            self._in_order = self._in_order and t > self._last_time
        self._last_time = max(t, self._last_time)
        return t
