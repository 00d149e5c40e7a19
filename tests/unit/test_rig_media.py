"""The rig's RTP: DTMF sequences that Asterisk will not drop, and steady audio."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from rig.media import dtmf_pcap, tone_pcap


def _rtp_packets(path: Path) -> list[tuple[float, bytes]]:
    data = path.read_bytes()[24:]
    packets, offset = [], 0
    while offset < len(data):
        seconds, micros, length, _ = struct.unpack_from("<IIII", data, offset)
        frame = data[offset + 16 : offset + 16 + length]
        packets.append((seconds + micros / 1e6, frame[14 + 20 + 8 :]))
        offset += 16 + length
    return packets


def test_a_key_sequence_keeps_rising_sequence_numbers_and_timestamps(tmp_path: Path) -> None:
    packets = _rtp_packets(dtmf_pcap(tmp_path / "keys.pcap", "*2#"))
    sequence = [struct.unpack_from("!H", rtp, 2)[0] for _, rtp in packets]
    assert sequence == sorted(sequence) and len(set(sequence)) == len(sequence)
    events = [
        (rtp[1] & 0x80, rtp[12], rtp[13] & 0x80, struct.unpack_from("!I", rtp, 4)[0])
        for _, rtp in packets
    ]
    starts = [(event, stamp) for marker, event, _, stamp in events if marker]
    assert [event for event, _ in starts] == [10, 2, 11]  # *, 2, #
    assert [stamp for _, stamp in starts] == sorted(stamp for _, stamp in starts)
    assert sum(1 for _, _, end, _ in events if end) == 9  # three end packets per key
    assert all(rtp[1] & 0x7F == 101 for _, rtp in packets)


def test_unknown_keys_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="DTMF keys must be"):
        dtmf_pcap(tmp_path / "bad.pcap", "12x")


def test_audio_is_fifty_packets_a_second_of_ulaw(tmp_path: Path) -> None:
    packets = _rtp_packets(tone_pcap(tmp_path / "tone.pcap", 2.0))
    assert len(packets) == 100
    assert all(len(rtp) == 12 + 160 and rtp[1] & 0x7F == 0 for _, rtp in packets)
    assert packets[-1][0] == pytest.approx(1.98)


def test_the_tone_detector_hears_each_tone_in_a_mix_and_no_other() -> None:
    from rig.media import _tone, tone_presence

    def payloads(frequency: float) -> list[bytes]:
        return [rtp[12:] for _, rtp in _tone(2.0, 0, 0, 0.0, 1, frequency)]

    alone = payloads(440.0)
    assert tone_presence(alone, 440.0) > 0.95 and tone_presence(alone, 1100.0) < 0.05
    # a mix, as a mixing bridge makes it: each tone at half amplitude
    from rig.media import _ULAW, _ulaw

    mixed = [
        bytes(_ulaw((_ULAW[a] + _ULAW[b]) // 2) for a, b in zip(x, y, strict=True))
        for x, y in zip(payloads(440.0), payloads(1100.0), strict=True)
    ]
    assert tone_presence(mixed, 440.0) > 0.95 and tone_presence(mixed, 1100.0) > 0.95
    assert tone_presence(mixed, 700.0) < 0.05
