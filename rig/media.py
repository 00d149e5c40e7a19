"""Audio and DTMF for the rig's phones, written as pcap files that SIPp plays as RTP.

SIPp's ``play_pcap_audio`` sends the RTP packets of a pcap with their recorded timing.
We build them ourselves: a tone as G.711 µ-law (PT 0), and RFC 4733 key sequences (PT 101)
with rising sequence numbers and timestamps, because Asterisk drops a digit whose numbers
go backwards (the packaged one-digit pcaps, played one after another, lose digits).
"""

from __future__ import annotations

import math
import struct
from collections.abc import Sequence
from pathlib import Path

_PCAP_HEADER = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)
_EVENTS = {**{str(d): d for d in range(10)}, "*": 10, "#": 11, "A": 12, "B": 13, "C": 14, "D": 15}
AUDIO_SSRC = 0x484F544C
PACKET_MS = 20
SAMPLES_PER_PACKET = 160


def _ulaw(sample: int) -> int:
    """G.711 µ-law encoding of one 16-bit sample."""
    bias, clip = 0x84, 32635
    sign = 0x80 if sample < 0 else 0
    magnitude = min(abs(sample), clip) + bias
    exponent = 7
    for bit in range(7, -1, -1):
        if magnitude & (1 << (bit + 7)):
            exponent = bit
            break
    mantissa = (magnitude >> (exponent + 3)) & 0x0F
    return ~(sign | (exponent << 4) | mantissa) & 0xFF


def _frame(payload: bytes) -> bytes:
    """Ethernet + IPv4 + UDP around an RTP packet (addresses are rewritten by SIPp)."""
    udp = struct.pack("!HHHH", 6000, 6000, 8 + len(payload), 0) + payload
    ip = struct.pack(
        "!BBHHHBBH4s4s",
        0x45,
        0,
        20 + len(udp),
        0,
        0,
        64,
        17,
        0,
        bytes([127, 0, 0, 1]),
        bytes([127, 0, 0, 1]),
    )
    return b"\x00" * 12 + b"\x08\x00" + ip + udp


def _rtp(
    payload_type: int, seq: int, timestamp: int, marker: bool, body: bytes, ssrc: int
) -> bytes:
    return (
        struct.pack(
            "!BBHII",
            0x80,
            (0x80 if marker else 0) | payload_type,
            seq & 0xFFFF,
            timestamp & 0xFFFFFFFF,
            ssrc,
        )
        + body
    )


def _write(path: Path, packets: list[tuple[float, bytes]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as out:
        out.write(_PCAP_HEADER)
        for at, rtp in packets:
            frame = _frame(rtp)
            seconds = int(at)
            out.write(
                struct.pack("<IIII", seconds, int((at - seconds) * 1e6), len(frame), len(frame))
            )
            out.write(frame)
    return path


def _tone(
    seconds: float, first_seq: int, first_ms: int, at: float, ssrc: int, frequency: float = 440.0
) -> list[tuple[float, bytes]]:
    """µ-law tone packets every 20 ms, numbered from ``first_seq``, stamped from ``first_ms``
    into the stream, scheduled from ``at`` seconds into the pcap."""
    packets = []
    for n in range(max(1, int(seconds * 1000 / PACKET_MS))):
        sample0 = (first_ms // PACKET_MS + n) * SAMPLES_PER_PACKET
        body = bytes(
            _ulaw(int(8000 * math.sin(2 * math.pi * frequency * (sample0 + i) / 8000)))
            for i in range(SAMPLES_PER_PACKET)
        )
        rtp = _rtp(0, first_seq + n, sample0, n == 0, body, ssrc)
        packets.append((at + n * PACKET_MS / 1000, rtp))
    return packets


def tone_pcap(path: Path, seconds: float, ssrc: int = AUDIO_SSRC, frequency: float = 440.0) -> Path:
    """``seconds`` of a sine tone as µ-law RTP, one packet every 20 ms."""
    return _write(path, _tone(seconds, 0, 0, 0.0, ssrc, frequency))


def dtmf_pcap(
    path: Path,
    keys: str,
    after_ms: int = 0,
    key_ms: int = 160,
    gap_ms: int = 120,
    ssrc: int = AUDIO_SSRC,
    then_audio: float = 0.0,
    frequency: float = 440.0,
) -> Path:
    """A key sequence as RFC 4733 events: for each key, packets every 20 ms while pressed
    (marker on the first), then three end packets; numbering keeps rising across keys.

    Keys pressed ``after_ms`` into a call whose audio (:func:`tone_pcap`) started at 0 carry
    on that stream's SSRC, sequence numbers and timestamps, so Asterisk takes them as the
    same stream moving forward rather than an old or foreign one. ``then_audio`` seconds of
    tone follow the keys on the same stream (playing a pcap cuts off the previous one, so
    without it a phone falls silent after keying)."""
    unknown = [key for key in keys if key.upper() not in _EVENTS]
    if unknown:
        raise ValueError(f"DTMF keys must be 0-9, *, #, A-D; got {''.join(unknown)!r}")
    packets: list[tuple[float, bytes]] = []
    seq, clock = after_ms // PACKET_MS + 1, 0.0
    for key in keys.upper():
        event = _EVENTS[key]
        start_ts = int((clock + after_ms / 1000) * 8000)
        steps = max(1, key_ms // PACKET_MS)
        for step in range(1, steps + 1):
            body = struct.pack("!BBH", event, 10, step * SAMPLES_PER_PACKET)
            packets.append(
                (
                    clock + (step - 1) * PACKET_MS / 1000,
                    _rtp(101, seq, start_ts, step == 1, body, ssrc),
                )
            )
            seq += 1
        end_at = clock + steps * PACKET_MS / 1000
        for repeat in range(3):
            body = struct.pack("!BBH", event, 0x80 | 10, steps * SAMPLES_PER_PACKET)
            packets.append((end_at + repeat * 0.005, _rtp(101, seq, start_ts, False, body, ssrc)))
            seq += 1
        clock = end_at + gap_ms / 1000
    if then_audio > 0:
        packets += _tone(then_audio, seq, after_ms + int(clock * 1000), clock, ssrc, frequency)
    return _write(path, packets)


def _ulaw_decode(byte: int) -> int:
    byte = ~byte & 0xFF
    sign, exponent, mantissa = byte & 0x80, (byte >> 4) & 0x07, byte & 0x0F
    magnitude = (((mantissa << 3) + 0x84) << exponent) - 0x84
    return -magnitude if sign else magnitude


_ULAW = [_ulaw_decode(b) for b in range(256)]


def tone_presence(payloads: list[bytes], frequency: float, block: int = 800) -> float:
    """The share of 100 ms blocks of received µ-law audio in which ``frequency`` carries at
    least a tenth of the block's energy (Goertzel): did this tone reach the phone?"""
    return tone_share([_ULAW[b] for payload in payloads for b in payload], frequency, block)


def tone_share(samples: Sequence[int], frequency: float, block: int = 800) -> float:
    """As :func:`tone_presence`, for 8 kHz linear samples (a decoded recording)."""
    coefficient = 2 * math.cos(2 * math.pi * frequency / 8000)
    blocks = present = 0
    for start in range(0, len(samples) - block + 1, block):
        chunk = samples[start : start + block]
        energy = sum(x * x for x in chunk)
        if energy == 0:
            blocks += 1
            continue
        s1 = s2 = 0.0
        for x in chunk:
            s1, s2 = x + coefficient * s1 - s2, s1
        power = s1 * s1 + s2 * s2 - coefficient * s1 * s2
        blocks += 1
        if power * 2 / block >= 0.1 * energy:
            present += 1
    return present / blocks if blocks else 0.0
