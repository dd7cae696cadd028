"""permessage-deflate (RFC 7692): negotiation on both sides and the
per-message compression itself.

Decompression is bounded: a message is inflated frame by frame and never
beyond ``max_received_message_size`` (plus one byte to notice it), so a
compression bomb costs at most that much memory before it is refused with
1009.  zlib cannot compress with an 8-bit window; when the peer demands one
for our side, our messages simply go out uncompressed, which the RFC allows.
"""

from __future__ import annotations

import re
import zlib
from typing import Any, Mapping, Sequence

from ..exceptions import PayloadTooBig, ProtocolError
from .extensions import Extension, Params, format_extension

__all__ = ["PerMessageDeflate", "NegotiationError", "server_negotiate", "client_offer",
           "client_accept", "NAME"]

NAME = "permessage-deflate"
_TAIL = b"\x00\x00\xff\xff"
_BITS = re.compile(r"(?:8|9|1[0-5])\Z")
_PARAMS = ("server_no_context_takeover", "client_no_context_takeover",
           "server_max_window_bits", "client_max_window_bits")


class NegotiationError(ValueError):
    """An offer or a response for permessage-deflate is not acceptable."""


class PerMessageDeflate(Extension):
    """The agreed permessage-deflate of one connection.

    ``local_*`` settings drive our compressor, ``remote_*`` the peer's
    (our decompressor).  zlib objects are made on first use, so an idle
    connection holds none; with context takeover they are kept between
    messages, without it they are dropped after each message.
    """

    name = NAME
    rsv_mask = 0b100

    def __init__(self, params: Params, *, is_server: bool, level: int = 6,
                 memory_level: int = 5, threshold: int = 0,
                 local_max_window_bits: int | None = None,
                 local_no_context_takeover: bool = False) -> None:
        super().__init__(params)
        agreed = dict(params)
        server_nct = "server_no_context_takeover" in agreed
        client_nct = "client_no_context_takeover" in agreed
        server_bits = int(agreed.get("server_max_window_bits") or 15)
        client_bits = int(agreed.get("client_max_window_bits") or 15)
        if is_server:
            self.local_no_context_takeover, self.remote_no_context_takeover = server_nct, client_nct
            self.local_max_window_bits, self.remote_max_window_bits = server_bits, client_bits
        else:
            self.local_no_context_takeover, self.remote_no_context_takeover = client_nct, server_nct
            self.local_max_window_bits, self.remote_max_window_bits = client_bits, server_bits
        # What we promised in our own offer binds us even if the answer
        # leaves it out (RFC 7692 §7.1.1.2, §7.1.2.2).
        if local_max_window_bits is not None:
            self.local_max_window_bits = min(self.local_max_window_bits, local_max_window_bits)
        self.local_no_context_takeover = self.local_no_context_takeover or local_no_context_takeover
        self.level = level
        self.memory_level = memory_level
        self.threshold = threshold
        self._encoder: Any = None
        self._decoder: Any = None
        # The peer's last 2**window bits of output, kept (with context
        # takeover) only to restart a decoder after a BFINAL block.
        self._window = b""

    # -- receiving ------------------------------------------------------------
    def begin_message(self, rsv: int) -> bool:
        if not rsv & 0b100:
            return False
        decoder = self._decoder
        if decoder is None or self.remote_no_context_takeover:
            self._decoder = zlib.decompressobj(wbits=-self.remote_max_window_bits)
        elif decoder.eof:
            # The peer ended its last message with a BFINAL block (RFC 7692
            # §7.2.3.4): a new stream, primed with the window it may refer to.
            self._decoder = zlib.decompressobj(wbits=-self.remote_max_window_bits,
                                               zdict=self._window)
        return True

    def decode(self, payload: bytes, fin: bool, max_size: int) -> bytes:
        """Inflate one frame's payload; ``max_size`` is what the message may
        still grow by.  Inflates at most ``max_size + 1`` bytes."""
        decoder = self._decoder
        try:
            if decoder.eof:
                # The message's DEFLATE stream ended (a BFINAL block) in an
                # earlier frame.  What follows the final block is ignored,
                # as zlib does within one frame: the message's payload is
                # the fragments joined, wherever they were cut (RFC 7692's
                # own §7.2.3.4 example has a byte after its final block).
                data = b""
            else:
                data = decoder.decompress(payload + _TAIL if fin else payload, max_size + 1)
        except zlib.error as exc:
            raise ProtocolError(1007, f"Invalid compressed data: {exc}") from None
        if len(data) > max_size or decoder.unconsumed_tail:
            raise PayloadTooBig("Maximum message size exceeded.")
        if self.remote_no_context_takeover:
            if fin:
                self._decoder = None
        else:
            size = 1 << self.remote_max_window_bits
            self._window = (self._window + data)[-size:] if len(data) < size else data[-size:]
        return data

    # -- sending ----------------------------------------------------------------
    def encode(self, payload: bytes) -> tuple[int, bytes]:
        if len(payload) < self.threshold or self.local_max_window_bits < 9:
            return 0, payload
        encoder = self._encoder
        if encoder is None:
            encoder = zlib.compressobj(self.level, zlib.DEFLATED, -self.local_max_window_bits,
                                       self.memory_level)
        data = encoder.compress(payload) + encoder.flush(zlib.Z_SYNC_FLUSH)
        self._encoder = None if self.local_no_context_takeover else encoder
        return 0b100, data[:-4]


# ----------------------------------------------------------------- parameters
def _check_params(params: Params, *, in_response: bool) -> dict[str, str | None]:
    """The parameters as a dict; NegotiationError if one is unknown,
    repeated or has an invalid value (RFC 7692 §7)."""
    seen: dict[str, str | None] = {}
    for name, value in params:
        if name not in _PARAMS:
            raise NegotiationError(f"unknown parameter {name}")
        if name in seen:
            raise NegotiationError(f"duplicate parameter {name}")
        if name.endswith("no_context_takeover"):
            if value is not None:
                raise NegotiationError(f"{name} takes no value")
        elif value is None:
            if name == "server_max_window_bits" or in_response:
                raise NegotiationError(f"{name} needs a value")
        elif not _BITS.match(value):
            raise NegotiationError(f"invalid value {value!r} for {name}")
        seen[name] = value
    return seen


def _make(params: Params, config: Mapping[str, Any], is_server: bool) -> PerMessageDeflate:
    local_bits = local_nct = None
    if not is_server:
        local_bits = config["client_max_window_bits"]
        local_nct = config["client_no_context_takeover"]
    return PerMessageDeflate(params, is_server=is_server, level=config["compression_level"],
                             memory_level=config["compression_memory_level"],
                             threshold=config["compression_threshold"],
                             local_max_window_bits=local_bits,
                             local_no_context_takeover=bool(local_nct))


# ----------------------------------------------------------------- server side
def server_negotiate(offers: Sequence[tuple[str, Params]], config: Mapping[str, Any]
                     ) -> tuple[PerMessageDeflate | None, str | None]:
    """Accept the first acceptable permessage-deflate offer: return the
    extension and the response header element, or (None, None).

    Offers that are invalid, or that ask for what we cannot do (a server
    window of 8 bits, which zlib lacks), are declined (RFC 7692 §5).
    """
    for name, params in offers:
        if name != NAME:
            continue
        try:
            offer = _check_params(params, in_response=False)
        except NegotiationError:
            continue
        response: Params = []
        if "server_no_context_takeover" in offer or config["server_no_context_takeover"]:
            response.append(("server_no_context_takeover", None))
        if "client_no_context_takeover" in offer or config["client_no_context_takeover"]:
            response.append(("client_no_context_takeover", None))
        server_bits = offer.get("server_max_window_bits")
        configured = config["server_max_window_bits"]
        bits = int(server_bits) if server_bits else None
        if configured is not None:
            bits = configured if bits is None else min(bits, configured)
        if bits == 8:
            continue
        if bits is not None:
            response.append(("server_max_window_bits", str(bits)))
        if "client_max_window_bits" in offer:
            offered = offer["client_max_window_bits"]
            configured = config["client_max_window_bits"]
            bits = int(offered) if offered else None
            if configured is not None:
                bits = configured if bits is None else min(bits, configured)
            if bits is not None:
                response.append(("client_max_window_bits", str(bits)))
        return _make(response, config, True), format_extension(NAME, response)
    return None, None


# ----------------------------------------------------------------- client side
def client_offer(config: Mapping[str, Any]) -> str:
    """The client's ``Sec-WebSocket-Extensions`` offer for its config."""
    params: Params = []
    if config["server_no_context_takeover"]:
        params.append(("server_no_context_takeover", None))
    if config["client_no_context_takeover"]:
        params.append(("client_no_context_takeover", None))
    if config["server_max_window_bits"] is not None:
        params.append(("server_max_window_bits", str(config["server_max_window_bits"])))
    bits = config["client_max_window_bits"]
    params.append(("client_max_window_bits", None if bits is None else str(bits)))
    return format_extension(NAME, params)


def client_accept(elements: Sequence[tuple[str, Params]],
                  config: Mapping[str, Any]) -> PerMessageDeflate:
    """Check the server's answer to our offer; NegotiationError says why
    it is not acceptable."""
    if len(elements) != 1 or elements[0][0] != NAME:
        raise NegotiationError("Server sent unrequested extensions")
    params = elements[0][1]
    response = _check_params(params, in_response=True)
    if config["server_no_context_takeover"] and "server_no_context_takeover" not in response:
        raise NegotiationError("server did not agree to server_no_context_takeover")
    wanted = config["server_max_window_bits"]
    if wanted is not None:
        given = response.get("server_max_window_bits")
        if given is None or int(given) > wanted:
            raise NegotiationError(f"server_max_window_bits above the {wanted} offered")
    # A client_max_window_bits answer above the value we offered is
    # allowed (the server "may ignore this value", RFC 7692 §7.1.2.2); our
    # compressor keeps to what we offered anyway (see _make).
    return _make(list(params), config, False)
