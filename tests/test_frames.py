"""PUBLISH packets split from a receive buffer: exactly the complete QoS 0/1 ones, in order, and the
position where paho's own reader must carry on."""

from hypothesis import given
from hypothesis import strategies as st

from hub.ingest.frames import Publish, split_publishes


def _length(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def publish_packet(m: Publish, *, dup: bool = False, retain: bool = False) -> bytes:
    topic = m.topic.encode()
    body = len(topic).to_bytes(2, "big") + topic + (m.mid.to_bytes(2, "big") if m.qos else b"") + m.payload
    header = 0x30 | (m.qos << 1) | (0x08 if dup else 0) | (0x01 if retain else 0)
    return bytes((header,)) + _length(len(body)) + body


messages = st.builds(
    Publish,
    topic=st.text(min_size=1, max_size=80).filter(lambda t: "\x00" not in t),
    payload=st.binary(max_size=400),
    mid=st.integers(1, 65535),
    qos=st.sampled_from([0, 1]),
).map(lambda m: m if m.qos else m._replace(mid=0))


@given(st.lists(messages, max_size=20), st.data())
def test_takes_exactly_the_complete_packets_before_a_cut(batch: list[Publish], data: st.DataObject) -> None:
    packets = [publish_packet(m) for m in batch]
    stream = b"".join(packets)
    cut = data.draw(st.integers(0, len(stream)))
    lead = data.draw(st.binary(max_size=5))
    taken, pos = split_publishes(lead + stream[:cut], len(lead))
    complete = 0
    ends = len(lead)
    for p in packets:
        if ends + len(p) > len(lead) + cut:
            break
        ends += len(p)
        complete += 1
    assert taken == batch[:complete]
    assert pos == ends


def test_flags_do_not_matter_and_payloads_may_be_empty() -> None:
    m = Publish("sc/v1/a/smoke_detector/d1/telemetry", b"", 7, 1)
    assert split_publishes(publish_packet(m, dup=True, retain=True), 0) == ([m], len(publish_packet(m)))


def test_stops_at_anything_paho_must_handle() -> None:
    ok = Publish("t/1", b"{}", 1, 1)
    first = publish_packet(ok)
    pingresp = b"\xd0\x00"
    suback = b"\x90\x03\x00\x01\x01"
    qos2 = publish_packet(Publish("t/2", b"x", 2, 1))
    qos2 = bytes(((qos2[0] & ~0x06) | 0x04,)) + qos2[1:]
    bad_utf8 = b"\x32\x07\x00\x02\xff\xfe\x00\x01x"
    topic_too_long = b"\x32\x04\x00\x09ab"
    endless_length = b"\x32\xff\xff\xff\xff\x01"
    for stop in (pingresp, suback, qos2, bad_utf8, topic_too_long, endless_length, b"\x32"):
        assert split_publishes(first + stop + first, 0) == ([ok], len(first))
