"""Property-based fuzz tests of permessage-deflate (RFC 7692) through the
frame parser: any client and server configs negotiate something both
sides accept, and compressed messages — made by the library's own encoder
or by raw zlib with sync flushes or BFINAL blocks, with and without context
takeover, in any window size, cut into any fragments and chunks — are read
back exactly; corrupt or mutated streams fail only with protocol errors.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

from hypothesis import example, given
from hypothesis import strategies as st

from wsframework.config import client_config, server_config
from wsframework.protocol.extensions import parse_extension_header
from wsframework.protocol.frame import encode_header
from wsframework.protocol.masking import apply_mask
from wsframework.protocol.parser import FrameParser
from wsframework.protocol.permessage_deflate import (NAME, PerMessageDeflate, client_accept,
                                            client_offer, server_negotiate)
from wsframework.protocol.streams import BufferedReader

from ..fuzzing import (BINARY, CONT, LIMIT, PING, TEXT, chunked, fuzz, limit_near, mutated,
                      reader_over, repeated_bytes, run)

WINDOW_BITS = st.one_of(st.none(), st.integers(8, 15))


@st.composite
def compression_configs(draw) -> dict:
    return {
        "server_no_context_takeover": draw(st.booleans()),
        "client_no_context_takeover": draw(st.booleans()),
        "server_max_window_bits": draw(WINDOW_BITS),
        "client_max_window_bits": draw(WINDOW_BITS),
        "compression_level": draw(st.integers(0, 9)),
        "compression_memory_level": draw(st.integers(1, 9)),
        "compression_threshold": draw(st.integers(0, 40)),
    }


@dataclass
class Negotiated:
    """The outcome of one negotiation: the agreed parameters and the
    configs, so fresh extension objects can be made for each parse."""

    server_params: list
    client_params: list
    server_config: dict
    client_config: dict

    def extension(self, server: bool) -> PerMessageDeflate:
        """A fresh extension for one side, made as the handshake makes it."""
        if server:
            extension, _ = server_negotiate([(NAME, self.server_params)], self.server_config)
            return extension
        return client_accept([(NAME, self.client_params)], self.client_config)


def negotiate(client: dict, server: dict) -> Negotiated | None:
    """The client's offer, the server's answer and the client's check of
    it, as the handshake does them."""
    client_conf, server_conf = client_config(client), server_config(server)
    offers = parse_extension_header([client_offer(client_conf)])
    extension, header = server_negotiate(offers, server_conf)
    if extension is None:
        return None
    [(name, params)] = parse_extension_header([header])
    assert name == NAME
    client_accept([(name, params)], client_conf)        # must not raise
    return Negotiated(offers[0][1], params, server_conf, client_conf)


@fuzz()
@given(client=compression_configs(), server=compression_configs())
def test_negotiation_always_ends_in_an_agreement_both_sides_accept(client, server):
    """For any pair of configs the server either declines (only when the
    server's window would be 8 bits, which zlib cannot make) or answers
    with parameters the client accepts; both sides then agree on each
    direction's window and context takeover."""
    negotiated = negotiate(client, server)
    offered = client["server_max_window_bits"]
    configured = server["server_max_window_bits"]
    bits = [b for b in (offered, configured) if b is not None]
    if negotiated is None:
        assert bits and min(bits) == 8
        return
    server_side, client_side = negotiated.extension(True), negotiated.extension(False)
    assert server_side.local_max_window_bits == client_side.remote_max_window_bits
    assert server_side.local_no_context_takeover == client_side.remote_no_context_takeover
    assert client_side.local_max_window_bits <= server_side.remote_max_window_bits
    if client_side.local_max_window_bits != server_side.remote_max_window_bits:
        # The client keeps to a smaller window than agreed only when it
        # offered one and the server's answer could not lower it.
        assert client["client_max_window_bits"] is not None
    # A side that drops its decompressor after each message has a peer
    # that resets its compressor too.
    assert client_side.local_no_context_takeover >= server_side.remote_no_context_takeover
    if client["server_no_context_takeover"]:
        assert client_side.remote_no_context_takeover


class RawSender:
    """A compressing peer built on raw zlib, free to end a message with a
    sync flush (tail removed) or a BFINAL block (RFC 7692 §7.2.3.4), and to
    send messages uncompressed.  With context takeover a new stream is
    primed with the window of what was sent, as the receiver expects."""

    def __init__(self, extension: PerMessageDeflate, level: int) -> None:
        self.bits = extension.local_max_window_bits
        self.takeover = not extension.local_no_context_takeover
        self.level = level
        self.compressor = None
        self.history = b""

    def encode(self, payload: bytes, mode: str) -> tuple[int, bytes]:
        if mode == "plain" or self.bits < 9:
            return 0, payload
        if self.compressor is None:
            window = self.history[-(1 << self.bits):]
            options = {"zdict": window} if window else {}
            self.compressor = zlib.compressobj(self.level, zlib.DEFLATED, -self.bits,
                                               **options)
        data = self.compressor.compress(payload)
        if mode == "sync":
            data += self.compressor.flush(zlib.Z_SYNC_FLUSH)
            assert data.endswith(b"\x00\x00\xff\xff")
            data = data[:-4]
        else:
            data += self.compressor.flush(zlib.Z_FINISH)
            self.compressor = None
        if self.takeover:
            self.history = (self.history + payload)[-(1 << 15):]
        else:
            self.compressor, self.history = None, b""
        return 0b100, data


def fragments(draw, payload: bytes) -> list[bytes]:
    """1..4 pieces, empty ones allowed anywhere (the last one included)."""
    cuts = sorted(draw(st.lists(st.integers(0, len(payload)), max_size=3)))
    bounds = [0, *cuts, len(payload)]
    return [payload[a:b] for a, b in zip(bounds, bounds[1:])]


@st.composite
def compressed_streams(draw):
    """(negotiated, receiver is server, stream bytes, expected messages)."""
    negotiated = None
    while negotiated is None:
        negotiated = negotiate(draw(compression_configs()), draw(compression_configs()))
    to_server = draw(st.booleans())
    sender = negotiated.extension(not to_server)
    raw = RawSender(sender, draw(st.integers(0, 9))) if draw(st.booleans()) else None
    stream, expected = [], []
    for _ in range(draw(st.integers(1, 4))):
        if draw(st.booleans()):
            text = draw(st.one_of(st.text(st.characters(codec="utf-8"), max_size=60),
                                  st.text(max_size=4, alphabet="ab€").map(lambda t: t * 300)))
            opcode, payload, message = TEXT, text.encode(), ("message", "utf8", text)
        else:
            payload = draw(repeated_bytes())
            opcode, message = BINARY, ("message", "binary", payload)
        if raw is not None:
            rsv, data = raw.encode(payload, draw(st.sampled_from(["sync", "final", "plain"])))
        else:
            rsv, data = sender.encode(payload)
        pieces = fragments(draw, data)
        for index, piece in enumerate(pieces):
            if index and draw(st.integers(0, 5)) == 5:
                ping = draw(st.binary(max_size=20))
                stream.append((PING, ping, True, 0))
                expected.append(("frame", PING, True, 0, to_server, -1, False, ping))
            stream.append((CONT if index else opcode, piece, index == len(pieces) - 1,
                           0 if index else rsv))
        expected.append(message)
    wire = b""
    for opcode, payload, fin, rsv in stream:
        key = draw(st.binary(min_size=4, max_size=4)) if to_server else None
        wire += encode_header(opcode, len(payload), fin=fin, rsv=rsv, mask=key)
        wire += apply_mask(payload, key) if key is not None else payload
    return negotiated, to_server, wire, expected


def deflate_parser(negotiated: Negotiated, to_server: bool, reader: BufferedReader,
                   assemble: bool = True, max_message_size: int = LIMIT) -> FrameParser:
    return FrameParser(reader, expect_masked=to_server, max_frame_size=LIMIT,
                       max_message_size=max_message_size, assemble_fragments=assemble,
                       extensions=[negotiated.extension(to_server)])


# A message compressed into one BFINAL stream, sent as that stream and an
# empty final continuation: valid (the receiver appends 00 00 ff ff after
# the final block, which it ignores), once refused with 1007.
_BFINAL_HELLO = bytes.fromhex("f348cdc9c90700")
_NEGOTIATED_DEFAULTS = negotiate({}, {})


@fuzz(0.7)
@given(case=compressed_streams(), data=st.data())
@example(case=(_NEGOTIATED_DEFAULTS, False,
               encode_header(TEXT, 7, fin=False, rsv=4) + _BFINAL_HELLO
               + encode_header(CONT, 0), [("message", "utf8", "Hello")]),
         data=None).via("regression: a BFINAL block then an empty last fragment")
def test_compressed_messages_are_read_back_exactly(case, data):
    """Whatever the agreed parameters, the sender (the library's encoder
    or raw zlib: sync flush, BFINAL, uncompressed) and the fragmentation
    (empty fragments included) and chunking, the receiver returns the
    original messages, then EOF."""
    negotiated, to_server, wire, expected = case
    chunks = data.draw(chunked(wire)) if data is not None else [wire]
    for source in (None, chunks):
        parser = deflate_parser(negotiated, to_server, reader_over(wire, source))
        assert run(parser) == (expected, ("eof",))


@fuzz(0.7)
@given(case=compressed_streams(), data=st.data())
def test_inflation_stops_at_the_message_size_limit(case, data):
    """A compressed message is refused with 1009 exactly when its inflated
    size exceeds ``max_message_size`` (drawn mostly at and next to the
    messages' sizes); the messages before it come back."""
    negotiated, to_server, wire, expected = case
    sizes = [len(message[2].encode() if message[1] == "utf8" else message[2])
             for message in expected if message[0] == "message"]
    max_message_size = data.draw(limit_near(sizes, high=700))
    over = next((i for i, size in enumerate(sizes) if size > max_message_size), None)
    parser = deflate_parser(negotiated, to_server, reader_over(wire, data.draw(chunked(wire))),
                            max_message_size=max_message_size)
    events, end = run(parser)
    messages = [event for event in events if event[0] == "message"]
    if over is None:
        assert (events, end) == (expected, ("eof",))
    else:
        assert end[:2] == ("PayloadTooBig", 1009)
        assert messages == [m for m in expected if m[0] == "message"][:over]


@fuzz()
@given(case=compressed_streams(), assemble=st.booleans(), data=st.data())
def test_mutated_compressed_streams_raise_only_protocol_errors(case, assemble, data):
    """Corrupt deflate data, flipped RSV bits, cut frames: only EOFError or
    a ProtocolError with 1002, 1007 or 1009, the same whole or chunked."""
    negotiated, to_server, wire, _ = case
    stream = data.draw(mutated(wire))
    whole = run(deflate_parser(negotiated, to_server, BufferedReader.from_bytes(stream),
                               assemble))
    chunks = data.draw(chunked(stream))
    assert run(deflate_parser(negotiated, to_server, reader_over(stream, chunks),
                              assemble)) == whole


@fuzz()
@given(negotiated=st.builds(negotiate, compression_configs(), compression_configs()),
       to_server=st.booleans(), garbage=st.binary(max_size=200), fin=st.booleans())
def test_random_compressed_payloads_raise_only_protocol_errors(negotiated, to_server,
                                                               garbage, fin):
    """A message flagged as compressed whose payload is arbitrary bytes
    either inflates or fails with 1007 (bad data) or 1009 (too big)."""
    if negotiated is None:
        return
    key = b"\x01\x02\x03\x04" if to_server else None
    wire = encode_header(BINARY, len(garbage), fin=fin, rsv=4, mask=key)
    wire += apply_mask(garbage, key) if key else garbage
    wire += encode_header(CONT, len(garbage), fin=True, mask=key)
    wire += apply_mask(garbage, key) if key else garbage
    events, end = run(deflate_parser(negotiated, to_server, BufferedReader.from_bytes(wire),
                                     max_message_size=5000))
    assert end[0] in ("eof", "ProtocolError", "PayloadTooBig")
