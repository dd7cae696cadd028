"""permessage-deflate (RFC 7692) without sockets: the server's answer to
every kind of offer (§7.1), the client's offer and its check of the answer,
and the compression itself (§7.2): round trips, context takeover, window
sizes, fragmentation, the threshold, bounded inflation and corrupt data."""

from __future__ import annotations

import os
import tracemalloc
import zlib

import pytest

from wsframework.config import client_config, server_config
from wsframework.exceptions import PayloadTooBig, ProtocolError
from wsframework.protocol.extensions import parse_extension_header
from wsframework.protocol.permessage_deflate import (NAME, NegotiationError, PerMessageDeflate,
                                            client_accept, client_offer, server_negotiate)

TAIL = b"\x00\x00\xff\xff"
PMD = "permessage-deflate"


def negotiate(offer: str | list[str], **config):
    values = [offer] if isinstance(offer, str) else offer
    return server_negotiate(parse_extension_header(values), server_config(config))


def params_of(header: str) -> list:
    [(name, params)] = parse_extension_header([header])
    assert name == NAME
    return params


def check_rfc_rules(offer_params: list, response_params: list) -> None:
    """What RFC 7692 §7.1 requires of any accepting response to an offer."""
    offer = dict(offer_params)
    names = [name for name, _ in response_params]
    assert len(names) == len(set(names)), f"duplicate parameters in {response_params}"
    response = dict(response_params)
    assert set(response) <= {"server_no_context_takeover", "client_no_context_takeover",
                             "server_max_window_bits", "client_max_window_bits"}
    # §7.1.1.1: accepting server_no_context_takeover means including it.
    if "server_no_context_takeover" in offer:
        assert "server_no_context_takeover" in response
    for name in ("server_no_context_takeover", "client_no_context_takeover"):
        assert response.get(name) is None
    # §7.1.2.1: server_max_window_bits answered with the same or a smaller
    # value; 8 cannot be honoured by zlib, so the answer is 9..15.
    if "server_max_window_bits" in offer:
        assert "server_max_window_bits" in response
        assert int(response["server_max_window_bits"]) <= int(offer["server_max_window_bits"])
    if "server_max_window_bits" in response:
        assert 9 <= int(response["server_max_window_bits"]) <= 15
    # §7.1.2.2: client_max_window_bits only if offered, with a value, never
    # above the offered one.
    if "client_max_window_bits" not in offer:
        assert "client_max_window_bits" not in response
    if "client_max_window_bits" in response:
        value = response["client_max_window_bits"]
        assert value is not None and 8 <= int(value) <= 15
        if offer["client_max_window_bits"] is not None:
            assert int(value) <= int(offer["client_max_window_bits"])


# ======================================================== server_negotiate
S12 = "server_max_window_bits=12"

# (offer: one header or a list of header lines, server config, answer or None)
ACCEPTED = {
    # -- the default config: server_max_window_bits=12, client_max_window_bits=12
    "plain": (PMD, {}, f"{PMD}; {S12}"),
    "client-bits-without-value": (f"{PMD}; client_max_window_bits", {},
                                  f"{PMD}; {S12}; client_max_window_bits=12"),
    "client-bits-10": (f"{PMD}; client_max_window_bits=10", {},
                       f"{PMD}; {S12}; client_max_window_bits=10"),
    "client-bits-15-capped": (f"{PMD}; client_max_window_bits=15", {},
                              f"{PMD}; {S12}; client_max_window_bits=12"),
    "client-bits-8": (f"{PMD}; client_max_window_bits=8", {},
                      f"{PMD}; {S12}; client_max_window_bits=8"),
    "server-bits-10": (f"{PMD}; server_max_window_bits=10", {},
                       f"{PMD}; server_max_window_bits=10"),
    "server-bits-9": (f"{PMD}; server_max_window_bits=9", {},
                      f"{PMD}; server_max_window_bits=9"),
    "server-bits-15-capped": (f"{PMD}; server_max_window_bits=15", {}, f"{PMD}; {S12}"),
    "server-no-context-takeover": (f"{PMD}; server_no_context_takeover", {},
                                   f"{PMD}; server_no_context_takeover; {S12}"),
    "client-no-context-takeover": (f"{PMD}; client_no_context_takeover", {},
                                   f"{PMD}; client_no_context_takeover; {S12}"),
    "all-four": (f"{PMD}; client_max_window_bits=9; server_no_context_takeover; "
                 "server_max_window_bits=10; client_no_context_takeover", {},
                 f"{PMD}; server_no_context_takeover; client_no_context_takeover; "
                 "server_max_window_bits=10; client_max_window_bits=9"),
    "quoted-values": (f'{PMD}; server_max_window_bits="10"; client_max_window_bits="11"', {},
                      f"{PMD}; server_max_window_bits=10; client_max_window_bits=11"),
    "names-are-case-insensitive": ("PerMessage-Deflate; Client_Max_Window_Bits", {},
                                   f"{PMD}; {S12}; client_max_window_bits=12"),
    # -- other configs
    "config-server-no-context-takeover": (PMD, {"server_no_context_takeover": True},
                                          f"{PMD}; server_no_context_takeover; {S12}"),
    "config-client-no-context-takeover": (PMD, {"client_no_context_takeover": True},
                                          f"{PMD}; client_no_context_takeover; {S12}"),
    "config-no-server-limit": (PMD, {"server_max_window_bits": None}, PMD),
    "config-no-server-limit-offer-10": (f"{PMD}; server_max_window_bits=10",
                                        {"server_max_window_bits": None},
                                        f"{PMD}; server_max_window_bits=10"),
    "config-server-15-offer-13": (f"{PMD}; server_max_window_bits=13",
                                  {"server_max_window_bits": 15},
                                  f"{PMD}; server_max_window_bits=13"),
    "config-server-9": (PMD, {"server_max_window_bits": 9}, f"{PMD}; server_max_window_bits=9"),
    "config-no-client-limit-no-value": (f"{PMD}; client_max_window_bits",
                                        {"client_max_window_bits": None}, f"{PMD}; {S12}"),
    "config-no-client-limit-offer-10": (f"{PMD}; client_max_window_bits=10",
                                        {"client_max_window_bits": None},
                                        f"{PMD}; {S12}; client_max_window_bits=10"),
    "config-client-9": (f"{PMD}; client_max_window_bits", {"client_max_window_bits": 9},
                        f"{PMD}; {S12}; client_max_window_bits=9"),
    "config-client-8": (f"{PMD}; client_max_window_bits", {"client_max_window_bits": 8},
                        f"{PMD}; {S12}; client_max_window_bits=8"),
    # §7.1.2.2: not offered, so never answered, whatever the config says.
    "config-client-limit-not-offered": (PMD, {"client_max_window_bits": 9}, f"{PMD}; {S12}"),
    "config-no-limits": (f"{PMD}; client_max_window_bits",
                         {"server_max_window_bits": None, "client_max_window_bits": None}, PMD),
    # -- several offers: the first acceptable one wins (RFC 7692 §5)
    "first-invalid-second-valid": (f"{PMD}; foo, {PMD}; client_max_window_bits", {},
                                   f"{PMD}; {S12}; client_max_window_bits=12"),
    "first-bad-value-second-valid": (f"{PMD}; server_max_window_bits=08, "
                                     f"{PMD}; server_max_window_bits=10", {},
                                     f"{PMD}; server_max_window_bits=10"),
    "first-8-bits-second-plain": (f"{PMD}; server_max_window_bits=8, {PMD}", {}, f"{PMD}; {S12}"),
    "first-acceptable-wins": (f"{PMD}; server_max_window_bits=10, "
                              f"{PMD}; server_max_window_bits=11", {},
                              f"{PMD}; server_max_window_bits=10"),
    "other-extension-first": (f"x-webkit-deflate-frame, {PMD}; client_no_context_takeover", {},
                              f"{PMD}; client_no_context_takeover; {S12}"),
    "offers-across-header-lines": ([f"{PMD}; bogus", f"{PMD}; server_max_window_bits=9"], {},
                                   f"{PMD}; server_max_window_bits=9"),
}


@pytest.mark.parametrize("offer, config, expected", ACCEPTED.values(), ids=ACCEPTED.keys())
def test_server_accepts(offer, config, expected):
    extension, header = negotiate(offer, **config)
    assert header == expected
    assert isinstance(extension, PerMessageDeflate)
    assert str(extension) == header and extension == PMD
    response = params_of(header)
    assert extension.params == response
    # Which offer was accepted: the last permessage-deflate one before
    # which all others were declined is identified by the answer itself.
    offers = parse_extension_header([offer] if isinstance(offer, str) else offer)
    candidates = [params for name, params in offers if name == NAME]
    assert any(_could_answer(params, response) for params in candidates)
    agreed = dict(response)
    assert extension.local_no_context_takeover == ("server_no_context_takeover" in agreed)
    assert extension.remote_no_context_takeover == ("client_no_context_takeover" in agreed)
    assert extension.local_max_window_bits == int(agreed.get("server_max_window_bits") or 15)
    assert extension.remote_max_window_bits == int(agreed.get("client_max_window_bits") or 15)


def _could_answer(offer_params, response_params) -> bool:
    try:
        check_rfc_rules(offer_params, response_params)
    except AssertionError:
        return False
    return True


@pytest.mark.parametrize("offer, config, expected", ACCEPTED.values(), ids=ACCEPTED.keys())
def test_every_answer_follows_rfc_7692(offer, config, expected):
    _, header = negotiate(offer, **config)
    offers = parse_extension_header([offer] if isinstance(offer, str) else offer)
    # The answered offer is the first one that is not declined on its own.
    for name, params in offers:
        if name == NAME and negotiate(_format(params), **config)[0] is not None:
            check_rfc_rules(params, params_of(header))
            break
    else:
        pytest.fail("no offer was acceptable on its own")


def _format(params) -> str:
    return "; ".join([PMD] + [k if v is None else f"{k}={v}" for k, v in params])


BAD_VALUES = ["08", "016", "16", "7", "0", "1", "9.0", "1a", "ten", "+9", "-9", "0x0a", "015"]

DECLINED = {
    "no-offer": ("", {}),
    "other-extension": ("x-webkit-deflate-frame", {}),
    "prefix-of-the-name": ("permessage-deflat", {}),
    # zlib cannot compress with an 8-bit window (it silently uses 9).
    "server-bits-8": (f"{PMD}; server_max_window_bits=8", {}),
    "server-bits-8-config-none": (f"{PMD}; server_max_window_bits=8",
                                  {"server_max_window_bits": None}),
    "config-server-8": (PMD, {"server_max_window_bits": 8}),
    "config-server-8-offer-10": (f"{PMD}; server_max_window_bits=10",
                                 {"server_max_window_bits": 8}),
    # §7.1.2.1: server_max_window_bits needs a value in an offer.
    "server-bits-without-value": (f"{PMD}; server_max_window_bits", {}),
    # §7.1.1: *_no_context_takeover take no value.
    "server-nct-with-value": (f"{PMD}; server_no_context_takeover=1", {}),
    "client-nct-with-value": (f'{PMD}; client_no_context_takeover="true"', {}),
    # §7: unknown parameters decline the offer.
    "unknown-parameter": (f"{PMD}; foo", {}),
    "unknown-parameter-with-value": (f"{PMD}; x-param=1", {}),
    "misspelt-parameter": (f"{PMD}; server_max_window_bit=10", {}),
    "unprefixed-parameter": (f"{PMD}; max_window_bits=10", {}),
    # §7: a parameter given twice declines the offer.
    "duplicate-server-nct": (f"{PMD}; server_no_context_takeover; server_no_context_takeover", {}),
    "duplicate-client-nct": (f"{PMD}; client_no_context_takeover; client_no_context_takeover", {}),
    "duplicate-server-bits": (f"{PMD}; server_max_window_bits=10; server_max_window_bits=10", {}),
    "duplicate-client-bits": (f"{PMD}; client_max_window_bits; client_max_window_bits=10", {}),
    "duplicate-client-bits-same-value": (f"{PMD}; client_max_window_bits=10; "
                                         "client_max_window_bits=10", {}),
    "every-offer-invalid": (f"{PMD}; foo, {PMD}; server_max_window_bits=16, "
                            f"{PMD}; server_max_window_bits=8", {}),
}
for _value in BAD_VALUES:
    DECLINED[f"server-bits-{_value}"] = (f"{PMD}; server_max_window_bits={_value}", {})
    DECLINED[f"client-bits-{_value}"] = (f"{PMD}; client_max_window_bits={_value}", {})


@pytest.mark.parametrize("offer, config", DECLINED.values(), ids=DECLINED.keys())
def test_server_declines(offer, config):
    assert negotiate(offer, **config) == (None, None)


def test_server_uses_the_compression_settings_of_its_config():
    extension, _ = negotiate(PMD, compression_level=1, compression_memory_level=9,
                             compression_threshold=0)
    assert (extension.level, extension.memory_level, extension.threshold) == (1, 9, 0)
    extension, _ = negotiate(PMD)
    assert (extension.level, extension.memory_level, extension.threshold) == (6, 5, 32)


# ============================================================ client side
@pytest.mark.parametrize("config, expected", [
    ({}, f"{PMD}; server_max_window_bits=12; client_max_window_bits=12"),
    ({"server_no_context_takeover": True, "client_no_context_takeover": True},
     f"{PMD}; server_no_context_takeover; client_no_context_takeover; "
     "server_max_window_bits=12; client_max_window_bits=12"),
    ({"server_max_window_bits": None, "client_max_window_bits": None},
     f"{PMD}; client_max_window_bits"),
    ({"server_max_window_bits": 9, "client_max_window_bits": 15},
     f"{PMD}; server_max_window_bits=9; client_max_window_bits=15"),
    ({"server_max_window_bits": 8, "client_max_window_bits": 8},
     f"{PMD}; server_max_window_bits=8; client_max_window_bits=8"),
])
def test_client_offer(config, expected):
    offer = client_offer(client_config(config))
    assert offer == expected
    assert parse_extension_header([offer])[0][0] == NAME


ACCEPTABLE = {
    "defaults": ({}, f"{PMD}; server_max_window_bits=12; client_max_window_bits=12",
                 (False, False, 12, 12)),
    "smaller-windows": ({}, f"{PMD}; server_max_window_bits=9; client_max_window_bits=10",
                        (False, False, 10, 9)),
    "quoted": ({}, f'{PMD}; server_max_window_bits="11"; client_max_window_bits="10"',
               (False, False, 10, 11)),
    # §7.1.1.1 / §7.1.1.2: the server may add either *_no_context_takeover.
    # Our offer's client_max_window_bits=12 (the default) binds us even when
    # the answer leaves it out (§7.1.2.2).
    "server-nct-unasked": ({}, f"{PMD}; server_no_context_takeover; server_max_window_bits=12",
                           (False, True, 12, 12)),
    "client-nct-unasked": ({}, f"{PMD}; client_no_context_takeover; server_max_window_bits=12",
                           (True, False, 12, 12)),
    "server-nct-asked": ({"server_no_context_takeover": True},
                         f"{PMD}; server_no_context_takeover; server_max_window_bits=12",
                         (False, True, 12, 12)),
    # §7.1.2.1: the server may limit its window though we did not ask.
    "server-bits-unasked": ({"server_max_window_bits": None},
                            f"{PMD}; server_max_window_bits=10", (False, False, 12, 10)),
    "nothing-asked": ({"server_max_window_bits": None, "client_max_window_bits": None}, PMD,
                      (False, False, 15, 15)),
    "client-bits-any-when-offered-without-value": (
        {"server_max_window_bits": None, "client_max_window_bits": None},
        f"{PMD}; client_max_window_bits=15", (False, False, 15, 15)),
    "client-bits-8": ({}, f"{PMD}; server_max_window_bits=12; client_max_window_bits=8",
                      (False, False, 8, 12)),
    # §7.1.2.2: the server "may ignore" the value we offered and answer a
    # bigger one (Autobahn does); we keep to the window we offered.
    "client-bits-above-offer": ({}, f"{PMD}; server_max_window_bits=12; client_max_window_bits=13",
                                (False, False, 12, 12)),
    "client-bits-15-above-9": ({"client_max_window_bits": 9},
                               f"{PMD}; server_max_window_bits=12; client_max_window_bits=15",
                               (False, False, 9, 12)),
}


@pytest.mark.parametrize("config, header, expected", ACCEPTABLE.values(), ids=ACCEPTABLE.keys())
def test_client_accepts(config, header, expected):
    extension = client_accept(parse_extension_header([header]), client_config(config))
    assert isinstance(extension, PerMessageDeflate)
    assert (extension.local_no_context_takeover, extension.remote_no_context_takeover,
            extension.local_max_window_bits, extension.remote_max_window_bits) == expected


REJECTED = {
    "unknown-parameter": ({}, f"{PMD}; server_max_window_bits=12; foo"),
    "duplicate-nct": ({}, f"{PMD}; server_max_window_bits=12; server_no_context_takeover; "
                          "server_no_context_takeover"),
    "duplicate-server-bits": ({}, f"{PMD}; server_max_window_bits=12; server_max_window_bits=12"),
    "duplicate-client-bits": ({}, f"{PMD}; server_max_window_bits=12; client_max_window_bits=9; "
                                  "client_max_window_bits=9"),
    # §7.1.2.1: not above what we offered, and present since we offered it.
    "server-bits-above-offer": ({}, f"{PMD}; server_max_window_bits=13"),
    "server-bits-15-above-offer": ({"server_max_window_bits": 9},
                                   f"{PMD}; server_max_window_bits=15"),
    "server-bits-missing": ({}, PMD),
    "server-bits-missing-with-client-bits": ({}, f"{PMD}; client_max_window_bits=12"),
    # §7.1.2.2: not above what we offered.
    # Values are mandatory in a response.
    "client-bits-without-value": ({}, f"{PMD}; server_max_window_bits=12; client_max_window_bits"),
    "server-bits-without-value": ({"server_max_window_bits": None},
                                  f"{PMD}; server_max_window_bits"),
    # §7.1.1.1: what we required must be agreed.
    "server-nct-missing": ({"server_no_context_takeover": True},
                           f"{PMD}; server_max_window_bits=12"),
    "nct-with-value": ({}, f"{PMD}; server_max_window_bits=12; server_no_context_takeover=1"),
    "client-nct-with-value": ({}, f"{PMD}; server_max_window_bits=12; client_no_context_takeover=x"),
    "two-answers": ({}, f"{PMD}; server_max_window_bits=12, {PMD}; server_max_window_bits=12"),
    "other-extension": ({}, "x-webkit-deflate-frame"),
    "other-extension-too": ({}, f"{PMD}; server_max_window_bits=12, x-foo"),
}
for _value in BAD_VALUES:
    REJECTED[f"server-bits-{_value}"] = ({"server_max_window_bits": None},
                                         f"{PMD}; server_max_window_bits={_value}")
    REJECTED[f"client-bits-{_value}"] = ({"client_max_window_bits": None},
                                         f"{PMD}; client_max_window_bits={_value}; "
                                         "server_max_window_bits=12")


@pytest.mark.parametrize("config, header", REJECTED.values(), ids=REJECTED.keys())
def test_client_rejects(config, header):
    with pytest.raises(NegotiationError):
        client_accept(parse_extension_header([header]), client_config(config))
    assert issubclass(NegotiationError, ValueError)  # how the client reports it


def test_client_keeps_its_client_max_window_bits_hint():
    # RFC 7692 §7.1.2.2: "If the client_max_window_bits extension parameter
    # in an extension negotiation offer has a value, the parameter also
    # informs the peer server of a hint that even if the server doesn't
    # include the client_max_window_bits extension parameter in the
    # corresponding extension negotiation response [...], the client is not
    # going to use an LZ77 sliding window size greater than the size
    # specified by the value in the extension negotiation offer."
    config = client_config({})  # offers client_max_window_bits=12
    assert "client_max_window_bits=12" in client_offer(config)
    extension = client_accept(parse_extension_header([f"{PMD}; {S12}"]), config)
    assert extension.local_max_window_bits <= 12, (
        "we offered client_max_window_bits=12; the server did not answer it, so we must "
        f"still compress with at most 12 bits, not {extension.local_max_window_bits}")


def test_client_keeps_its_client_no_context_takeover_hint():
    # RFC 7692 §7.1.1.2: "By including the client_no_context_takeover
    # extension parameter in an extension negotiation offer, a client
    # informs the peer server of a hint that even if the server doesn't
    # include the client_no_context_takeover extension parameter in the
    # corresponding extension negotiation response to the offer, the client
    # is not going to use context takeover."
    config = client_config({"client_no_context_takeover": True})
    assert "client_no_context_takeover" in client_offer(config)
    extension = client_accept(parse_extension_header([f"{PMD}; {S12}"]), config)
    extension.threshold = 0
    message = b"the same message, twice " * 8
    first, second = extension.encode(message), extension.encode(message)
    assert first == second, (
        "we offered client_no_context_takeover, so the second identical message must be "
        "compressed without the first one's context")


CONFIG_PAIRS = {
    "defaults": ({}, {}),
    "no-context-takeover-asked": ({"server_no_context_takeover": True,
                                   "client_no_context_takeover": True}, {}),
    "no-context-takeover-imposed": ({}, {"server_no_context_takeover": True,
                                         "client_no_context_takeover": True}),
    "client-asks-9": ({"server_max_window_bits": 9, "client_max_window_bits": 9}, {}),
    "server-caps-10": ({"server_max_window_bits": 15, "client_max_window_bits": 15},
                       {"server_max_window_bits": 10, "client_max_window_bits": 11}),
    "no-limits": ({"server_max_window_bits": None, "client_max_window_bits": None},
                  {"server_max_window_bits": None, "client_max_window_bits": None}),
    "client-window-8": ({"client_max_window_bits": 8}, {}),
}


@pytest.mark.parametrize("client_cfg, server_cfg", CONFIG_PAIRS.values(), ids=CONFIG_PAIRS.keys())
def test_offer_answer_accept_agree_on_both_sides(client_cfg, server_cfg):
    ccfg, scfg = client_config(client_cfg), server_config(server_cfg)
    offer = client_offer(ccfg)
    server_side, header = server_negotiate(parse_extension_header([offer]), scfg)
    assert server_side is not None, offer
    client_side = client_accept(parse_extension_header([header]), ccfg)
    assert client_side.params == server_side.params
    assert client_side.local_no_context_takeover == server_side.remote_no_context_takeover
    assert client_side.remote_no_context_takeover == server_side.local_no_context_takeover
    assert client_side.local_max_window_bits == server_side.remote_max_window_bits
    assert client_side.remote_max_window_bits == server_side.local_max_window_bits
    # And they understand each other, both ways, several messages in a row.
    for n in range(3):
        message = (f"message {n}: " + "compressible text " * 50).encode()
        assert exchange(client_side, server_side, message) == message
        assert exchange(server_side, client_side, message[::-1]) == message[::-1]


# ===================================================== compression itself
def pair(params=(), **kwargs) -> tuple[PerMessageDeflate, PerMessageDeflate]:
    """The server's and the client's extension for the agreed ``params``."""
    kwargs.setdefault("threshold", 0)
    return (PerMessageDeflate(list(params), is_server=True, **kwargs),
            PerMessageDeflate(list(params), is_server=False, **kwargs))


def decode_frames(receiver: PerMessageDeflate, rsv: int, frames: list[bytes],
                  max_size: int = 1 << 27) -> bytes:
    """What the parser does for a message: begin, then decode frame by frame
    with the budget left."""
    assert receiver.begin_message(rsv) is bool(rsv & 0b100)
    if not rsv & 0b100:
        return b"".join(frames)
    out, produced = [], 0
    for i, frame in enumerate(frames):
        data = receiver.decode(frame, i == len(frames) - 1, max_size - produced)
        produced += len(data)
        out.append(data)
    return b"".join(out)


def exchange(sender, receiver, message: bytes, max_size: int = 1 << 27) -> bytes:
    rsv, payload = sender.encode(message)
    return decode_frames(receiver, rsv, [payload], max_size)


def test_round_trip_both_ways_with_context_takeover():
    server, client = pair([("server_max_window_bits", "12"), ("client_max_window_bits", "12")])
    message = b"a message that is quite compressible, " * 20
    sizes = []
    for _ in range(3):
        rsv, payload = server.encode(message)
        assert rsv == 0b100
        assert not payload.endswith(TAIL)  # §7.2.1: the 4 octets are removed
        sizes.append(len(payload))
        assert decode_frames(client, rsv, [payload]) == message
        assert exchange(client, server, message) == message
    # The second copy refers to the first one (§7.2.3.2).
    assert sizes[1] < sizes[0] and sizes[1] <= 10
    assert len(message) > 10 * sizes[0]


@pytest.mark.parametrize("params, server_nct, client_nct", [
    ([("server_no_context_takeover", None)], True, False),
    ([("client_no_context_takeover", None)], False, True),
    ([("server_no_context_takeover", None), ("client_no_context_takeover", None)], True, True),
])
def test_round_trip_without_context_takeover(params, server_nct, client_nct):
    server, client = pair(params)
    assert (server.local_no_context_takeover, client.remote_no_context_takeover) == (
        server_nct, server_nct)
    assert (client.local_no_context_takeover, server.remote_no_context_takeover) == (
        client_nct, client_nct)
    message = b"the same message again and again " * 10
    for sender, receiver, nct in ((server, client, server_nct), (client, server, client_nct)):
        payloads = [sender.encode(message) for _ in range(3)]
        for rsv, payload in payloads:
            assert decode_frames(receiver, rsv, [payload]) == message
        if nct:
            assert payloads[0] == payloads[1] == payloads[2]
        else:
            assert len(payloads[1][1]) < len(payloads[0][1])


def test_a_receiver_without_context_takeover_really_forgets():
    # RFC 7692 §7.2.3.2: the second "Hello" of a shared-window stream refers
    # back to the first.  A decoder that agreed to no context takeover has
    # no such window: the data is corrupt for it.
    _, with_context = pair()
    _, without = pair([("server_no_context_takeover", None)])
    first, second = bytes.fromhex("f248cdc9c90700"), bytes.fromhex("f200110000")
    assert decode_frames(with_context, 0b100, [first]) == b"Hello"
    assert decode_frames(with_context, 0b100, [second]) == b"Hello"
    assert decode_frames(without, 0b100, [first]) == b"Hello"
    with pytest.raises(ProtocolError) as failed:
        decode_frames(without, 0b100, [second])
    assert failed.value.code == 1007


# The examples of RFC 7692 §7.2.3, as payloads of one message each.
RFC_EXAMPLES = {
    "7.2.3.1-hello": [bytes.fromhex("f248cdc9c90700")],
    "7.2.3.1-hello-fragmented": [bytes.fromhex("f248cd"), bytes.fromhex("c9c90700")],
    "7.2.3.3-no-compression": [bytes.fromhex("000500faff48656c6c6f00")],
    "7.2.3.4-bfinal": [bytes.fromhex("f348cdc9c9070000")],
    # The same, cut after the final block: the byte after it is ignored
    # in a later fragment as it is in the same one.
    "7.2.3.4-bfinal-fragmented": [bytes.fromhex("f348cdc9c90700"), bytes.fromhex("00")],
    "7.2.3.5-two-blocks": [bytes.fromhex("f248050000 00ffff cac9c90700".replace(" ", ""))],
}


@pytest.mark.parametrize("frames", RFC_EXAMPLES.values(), ids=RFC_EXAMPLES.keys())
def test_rfc_7692_examples_decode(frames):
    _, client = pair()
    assert decode_frames(client, 0b100, frames) == b"Hello"


def test_rfc_7692_empty_message():
    # §7.2.3.6: an empty message compresses to the single octet 0x00.
    server, client = pair()
    assert decode_frames(client, 0b100, [b"\x00"]) == b""
    rsv, payload = server.encode(b"")
    assert rsv == 0b100 and len(payload) <= 1
    assert decode_frames(client, rsv, [payload]) == b""
    assert exchange(server, client, b"after the empty one") == b"after the empty one"


@pytest.mark.parametrize("nct", [False, True], ids=["context-takeover", "no-context-takeover"])
def test_messages_flushed_with_bfinal_keep_decoding(nct):
    # RFC 7692 §7.2.3.4: a sender may end each message with a DEFLATE block
    # whose BFINAL bit is 1 (example: "Hello" as f3 48 cd c9 c9 07 00 00).
    # Each such message is a complete DEFLATE stream, so every one of them
    # must decode, whether or not the receiver keeps its context.
    _, client = pair([("server_no_context_takeover", None)] if nct else [])
    bfinal_hello = bytes.fromhex("f348cdc9c9070000")
    decoded = [decode_frames(client, 0b100, [bfinal_hello]) for _ in range(3)]
    assert decoded == [b"Hello"] * 3, (
        "after a message ended with a BFINAL block, the next messages were lost: "
        f"{decoded!r}")


@pytest.mark.parametrize("bits", range(9, 16))
def test_window_bits(bits):
    params = [("server_max_window_bits", str(bits)), ("client_max_window_bits", str(bits))]
    server, client = pair(params)
    assert server.local_max_window_bits == client.remote_max_window_bits == bits
    assert client.local_max_window_bits == server.remote_max_window_bits == bits
    # 20000 random bytes three times: only a window above 20000 bytes (15
    # bits) can refer back to the first copy.
    block = os.urandom(20000)
    message = block * 3
    for sender, receiver in ((server, client), (client, server)):
        for _ in range(2):
            rsv, payload = sender.encode(message)
            assert rsv == 0b100
            assert decode_frames(receiver, rsv, [payload]) == message
            if bits < 15:
                assert len(payload) > 55000, f"a {bits}-bit window reached 20000 bytes back"
            else:
                assert len(payload) < 25000
    # A larger window on the receiving side also reads it.
    _, wide = pair([("server_max_window_bits", "15")])
    narrow, _ = pair([("server_max_window_bits", str(bits))])
    assert exchange(narrow, wide, message) == message


@pytest.mark.parametrize("level", [0, 1, 9])
def test_compression_levels(level):
    server, client = pair(level=level, memory_level=9)
    message = os.urandom(1000) + b"x" * 5000
    rsv, payload = server.encode(message)
    assert rsv == 0b100
    assert decode_frames(client, rsv, [payload]) == message
    if level == 0:
        assert len(payload) > len(message)  # stored blocks
    else:
        assert len(payload) < 1300  # the random part, and little for the rest


@pytest.mark.parametrize("sizes", [[1], [1, 2, 3], [100], [8191], [5, 3000]],
                         ids=lambda sizes: "-".join(map(str, sizes)))
def test_fragmented_message_decoded_frame_by_frame(sizes):
    server, client = pair()
    message = b"".join(b"line %d of a long fragmented message\n" % i for i in range(3000))
    message += os.urandom(20000)
    for _ in range(2):  # the second message uses the first one's context
        rsv, payload = server.encode(message)
        frames, pos, i = [], 0, 0
        while pos < len(payload):
            size = sizes[min(i, len(sizes) - 1)]
            frames.append(payload[pos:pos + size])
            pos += size
            i += 1
        assert len(frames) > 1
        assert client.begin_message(rsv)
        out, produced = [], 0
        for n, frame in enumerate(frames):
            # The budget left, as the parser passes it (a generous limit:
            # the limit itself is tested below).
            chunk = client.decode(frame, n == len(frames) - 1, (1 << 27) - produced)
            produced += len(chunk)
            out.append(chunk)
        assert b"".join(out) == message
        # Data comes out as the frames arrive, not only at the end.
        assert sum(map(len, out[:-1])) > len(message) // 2


def test_threshold_leaves_small_messages_uncompressed():
    server, client = pair(threshold=32)
    small, big = b"s" * 31, b"b" * 32
    assert server.encode(small) == (0, small)
    assert client.begin_message(0) is False  # the parser passes it through
    rsv, payload = server.encode(big)
    assert rsv == 0b100 and len(payload) < 32
    assert decode_frames(client, rsv, [payload]) == big
    # Uncompressed messages in between do not disturb the shared context.
    assert server.encode(small) == (0, small)
    assert exchange(server, client, big + b"!") == big + b"!"


def test_threshold_from_config_defaults_to_32():
    extension, _ = negotiate(PMD)
    assert extension.encode(b"x" * 31) == (0, b"x" * 31)
    assert extension.encode(b"x" * 32)[0] == 0b100


def test_a_local_window_of_8_bits_sends_uncompressed():
    # zlib cannot compress with an 8-bit window; the RFC lets a sender not
    # compress a message at all (§6).
    server, client = pair([("client_max_window_bits", "8")])
    assert client.local_max_window_bits == 8 == server.remote_max_window_bits
    message = b"compressible " * 1000
    assert client.encode(message) == (0, message)
    assert server.begin_message(0) is False
    # The other direction still compresses.
    rsv, payload = server.encode(message)
    assert rsv == 0b100 and len(payload) < 500


# ==================================================== bounded inflation
MB = 1_000_000
MAX = 1 << 20


@pytest.fixture(scope="module")
def zeros_10mb() -> bytes:
    """10 MB of zeros as a message payload (about 10 KB)."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    data = compressor.compress(bytes(10 * MB)) + compressor.flush(zlib.Z_SYNC_FLUSH)
    assert data.endswith(TAIL) and len(data) < 20000
    return data[:-4]


class SpyDecoder:
    """Wraps a zlib decompressor and counts what it produced."""

    def __init__(self, decoder) -> None:
        self.decoder = decoder
        self.produced = 0
        self.calls = 0

    def decompress(self, data, max_length=0):
        self.calls += 1
        out = self.decoder.decompress(data, max_length)
        self.produced += len(out)
        return out

    def __getattr__(self, name):
        return getattr(self.decoder, name)


def test_inflation_stops_at_the_limit(zeros_10mb):
    _, client = pair()
    assert client.begin_message(0b100)
    spy = client._decoder = SpyDecoder(client._decoder)
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        with pytest.raises(PayloadTooBig) as failed:
            client.decode(zeros_10mb, True, MAX)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert failed.value.code == 1009
    assert isinstance(failed.value, ProtocolError)
    assert spy.produced <= MAX + 1, f"inflated {spy.produced} bytes for a {MAX}-byte limit"
    assert peak < 4 * MB, f"peak allocation {peak} bytes while refusing a 10 MB bomb"


def test_inflation_stops_at_the_limit_across_frames(zeros_10mb):
    _, client = pair()
    frames = [zeros_10mb[i:i + 1000] for i in range(0, len(zeros_10mb), 1000)]
    assert client.begin_message(0b100)
    spy = client._decoder = SpyDecoder(client._decoder)
    produced = 0
    try:
        for n, frame in enumerate(frames):
            produced += len(client.decode(frame, n == len(frames) - 1, MAX - produced))
    except Exception as exc:  # noqa: BLE001 -- checked just below
        error = exc
    else:
        pytest.fail("a 10 MB bomb in 1000-byte frames was not refused")
    assert isinstance(error, PayloadTooBig), (
        f"expected PayloadTooBig (1009), got {error!r} after {produced} bytes")
    assert error.code == 1009
    assert n < len(frames) - 1, "refused only at the last frame"
    assert produced <= MAX and spy.produced <= MAX + 1


@pytest.mark.parametrize("fragmented", [False, True])
def test_a_message_of_exactly_the_limit_passes(fragmented):
    server, client = pair()
    message = os.urandom(1000) * 100  # 100000 bytes
    rsv, payload = server.encode(message)
    frames = [payload[:50], payload[50:]] if fragmented else [payload]
    assert decode_frames(client, rsv, frames, max_size=len(message)) == message
    rsv, payload = server.encode(message + b"!")
    frames = [payload[:50], payload[50:]] if fragmented else [payload]
    with pytest.raises(PayloadTooBig):
        decode_frames(client, rsv, frames, max_size=len(message))


def test_a_fragmented_message_under_the_limit_passes():
    # The parser passes decode() the budget left for the rest of the
    # message (Extension.decode: "output above max_size bytes raises"), so
    # what earlier frames produced must not be counted a second time.
    server, client = pair()
    message = bytes(300_000) + os.urandom(300_000)  # 600000 bytes, limit 1 MiB
    rsv, payload = server.encode(message)
    cut = len(payload) - 1000
    frames = [payload[:cut], payload[cut:]]
    assert client.begin_message(rsv)
    first = client.decode(frames[0], False, MAX)
    assert len(first) > MAX // 2
    try:
        rest = client.decode(frames[1], True, MAX - len(first))
    except (PayloadTooBig, ValueError) as exc:
        pytest.fail(f"a {len(message)}-byte message in two frames was refused under a "
                    f"{MAX}-byte limit: {exc!r} (the first frame's {len(first)} bytes "
                    "counted twice?)")
    assert first + rest == message


def test_the_limit_is_per_message():
    server, client = pair()
    message = os.urandom(600_000)
    for _ in range(3):  # 1.8 MB in all, each message under the 1 MiB limit
        assert exchange(server, client, message, max_size=MAX) == message


@pytest.mark.parametrize("payload", [b"\x07\x00", b"\xff" * 8, bytes.fromhex("f200110000")],
                         ids=["reserved-block-type", "garbage", "distance-too-far-back"])
def test_corrupt_data_is_1007(payload):
    _, client = pair()
    with pytest.raises(ProtocolError) as failed:
        decode_frames(client, 0b100, [payload])
    assert failed.value.code == 1007
    assert not isinstance(failed.value, PayloadTooBig)


def test_corrupt_data_in_a_later_frame_is_1007():
    server, client = pair()
    _, payload = server.encode(b"valid start " * 100)
    assert client.begin_message(0b100)
    assert client.decode(payload, False, MAX)
    with pytest.raises(ProtocolError) as failed:
        client.decode(b"\x07\x00\x00", True, MAX)
    assert failed.value.code == 1007
