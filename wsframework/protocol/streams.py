"""The small buffered-reader interface the framing code reads from.

The parser is written in blocking style (``reader.read_exact(2)`` ...).  In
production a :class:`BufferedReader` wraps a socket's ``recv_into``; in unit
tests it wraps bytes.  Reads consume nothing until they complete, so a
reader interrupted while it waits (a timeout, a kill) loses no data.
"""

from __future__ import annotations

from typing import Callable, Iterable

__all__ = ["BufferedReader", "SCRATCH_SIZE", "scratch", "scratch_view"]

#: One receive buffer for every reader (and the connection's one-frame
#: receive): recv_into fills it and the bytes are used or copied out before
#: anything else can run, so sharing it is safe.
SCRATCH_SIZE = 65536
scratch = bytearray(SCRATCH_SIZE)
scratch_view = memoryview(scratch)

RecvInto = Callable[[memoryview], int]


class BufferedReader:
    """Blocking, buffered reads over a ``recv_into`` callable.

    ``recv_into`` returns the number of bytes written, 0 at end of stream;
    end of stream raises :class:`EOFError` from the read that needed more.

    ``buf[pos:]`` are the buffered, unread bytes; a parser may look at them
    directly (and then :meth:`skip`) to avoid copies on its hot path.
    """

    __slots__ = ("_recv_into", "buf", "pos")

    def __init__(self, recv_into: RecvInto | None = None, initial: bytes = b"") -> None:
        self._recv_into = recv_into
        self.buf = bytearray(initial)
        self.pos = 0

    @classmethod
    def from_bytes(cls, data: bytes) -> "BufferedReader":
        """A reader over fixed bytes; reading past them raises EOFError."""
        return cls(None, data)

    @classmethod
    def from_chunks(cls, chunks: Iterable[bytes]) -> "BufferedReader":
        """A reader that receives ``chunks`` one per receive call."""
        it = iter(chunks)
        rest = [b""]        # the part of a chunk larger than one receive

        def recv_into(view: memoryview) -> int:
            chunk = rest[0] or next(it, b"")
            rest[0] = chunk[len(view):]
            chunk = chunk[:len(view)]
            view[:len(chunk)] = chunk
            return len(chunk)

        return cls(recv_into)

    def detach(self) -> None:
        """Stop receiving: what is buffered can still be read, then the
        reader is at end of stream."""
        self._recv_into = None

    @property
    def buffered(self) -> int:
        """How many received bytes are waiting to be read."""
        return len(self.buf) - self.pos

    def feed(self, data: bytes) -> None:
        """Append bytes that arrived by other means (e.g. with a handshake)."""
        self.buf += data

    def fill(self) -> int:
        """Receive once into the buffer; return the byte count."""
        if self._recv_into is None:
            raise EOFError("end of stream")
        n = self._recv_into(scratch_view)
        if not n:
            raise EOFError("end of stream")
        self.buf += scratch_view[:n]
        return n

    def try_fill(self, recv_into: RecvInto) -> int:
        """Receive once with ``recv_into``, a receive that does not wait
        (an OS socket's own, say): the byte count, 0 when nothing had come
        yet (it raised BlockingIOError); EOFError at end of stream."""
        try:
            n = recv_into(scratch_view)
        except (BlockingIOError, InterruptedError):
            return 0
        if not n:
            raise EOFError("end of stream")
        self.buf += scratch_view[:n]
        return n

    def ensure(self, n: int) -> None:
        """Block until at least ``n`` bytes are buffered."""
        while len(self.buf) - self.pos < n:
            self.fill()

    def peek(self, n: int) -> bytes:
        """The next ``n`` bytes, without consuming them."""
        self.ensure(n)
        return bytes(self.buf[self.pos:self.pos + n])

    def skip(self, n: int) -> None:
        """Consume ``n`` buffered bytes."""
        self.pos += n
        if self.pos >= len(self.buf):
            self.buf.clear()
            self.pos = 0
        elif self.pos > SCRATCH_SIZE:
            del self.buf[:self.pos]
            self.pos = 0

    def read_exact(self, n: int) -> bytes:
        """Exactly ``n`` bytes, blocking until they have all arrived."""
        self.ensure(n)
        pos = self.pos
        data = bytes(self.buf[pos:pos + n])
        self.skip(n)
        return data

    def take(self, n: int) -> bytearray:
        """Like :meth:`read_exact` but returns the bytearray slice itself
        (one copy fewer), for callers that transform it anyway."""
        self.ensure(n)
        pos = self.pos
        data = self.buf[pos:pos + n]
        self.skip(n)
        return data

    def read_some(self, n: int) -> bytes:
        """Between 1 and ``n`` bytes: what is buffered, else one receive."""
        if self.pos >= len(self.buf):
            self.fill()
        pos = self.pos
        data = bytes(self.buf[pos:pos + n])
        self.skip(len(data))
        return data

    def read_until(self, separator: bytes, limit: int) -> bytes:
        """Bytes up to and including ``separator``; :class:`ValueError` if
        it is not found within ``limit`` bytes."""
        buf = self.buf
        start = self.pos                    # where the search resumes
        while True:
            pos = self.pos
            index = buf.find(separator, start)
            if index >= 0:
                end = index + len(separator) - pos
                if end > limit:
                    raise ValueError("separator not found within limit")
                if not pos and end == len(buf):
                    # The usual head: all that was received, one copy.
                    data = bytes(buf)
                    buf.clear()
                    return data
                return self.read_exact(end)
            buffered = len(buf) - pos
            start = pos + max(0, buffered - len(separator) + 1)
            if buffered >= limit:
                raise ValueError("separator not found within limit")
            self.fill()

    def read_into(self, view: memoryview) -> int:
        """Fill part of ``view``; return how many bytes were written (≥ 1).

        Buffered bytes are copied first; with none buffered, a large view is
        received into directly, so big payloads are not copied twice.
        """
        avail = len(self.buf) - self.pos
        if avail:
            n = min(avail, len(view))
            pos = self.pos
            with memoryview(self.buf) as buffered:   # released before skip() resizes
                view[:n] = buffered[pos:pos + n]     # one copy, not two
            self.skip(n)
            return n
        if len(view) >= SCRATCH_SIZE and self._recv_into is not None:
            n = self._recv_into(view)
            if not n:
                raise EOFError("end of stream")
            return n
        self.fill()
        return self.read_into(view)
