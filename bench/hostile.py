"""Hostile raw-socket peers from issue 15 (items 1-3), run against a
``python -m wsframework`` server (or ``connect()``) in a subprocess whose
memory is read from ``/proc/PID/status`` (VmRSS); for the HTTP case the
server's kernel send queue is read with ``ss``.  Linux only.

  python bench/hostile.py pings [--seconds 8]
      the chat server; a client with a 4 KiB receive buffer floods
      125-byte pings and never reads
  python bench/hostile.py fragments [--mb 63] [--payload 0|1|2] [--deflate]
      the echo server; one binary message of MB megabytes of continuation
      frames of PAYLOAD bytes each (empty by default)
  python bench/hostile.py client-frags [--mb 63]
      a hostile server sends connect() in a subprocess empty continuations
  python bench/hostile.py slowhttp [--clients 5] [--seconds 95] [--drip]
      the chat server; clients pipeline GET /static/chat.js with a tiny
      receive window and never read (--drip: a default window, one byte
      read every 5 s)
"""
import argparse
import base64
import os
import socket
import struct
import subprocess
import sys
import threading
import time

PY = sys.executable


def rss(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return 0.0


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_port(port):
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit("server did not start")


def start(args_list):
    port = free_port()
    proc = subprocess.Popen([PY, "-m", "wsframework", *args_list, "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_port(port)
    time.sleep(0.5)
    return proc, port


def handshake(sock, path="/", extra=""):
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall((f"GET {path} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                  f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                  f"Sec-WebSocket-Version: 13\r\n{extra}\r\n").encode())
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            raise SystemExit(f"handshake refused: {data!r}")
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    assert b" 101 " in head.split(b"\r\n")[0], head
    return head, rest


def frame(opcode, payload=b"", fin=True, rsv=0, mask=True):
    b0 = (0x80 if fin else 0) | (rsv << 4) | opcode
    n = len(payload)
    head = bytes((b0, (0x80 if mask else 0) | n)) if n < 126 else \
        bytes((b0, (0x80 if mask else 0) | 126)) + struct.pack("!H", n)
    if mask:
        key = b"\x00\x00\x00\x00"         # zero key: payload unchanged
        return head + key + payload
    return head + payload


def pings(a):
    proc, port = start(["serve", "--log-level", "WARNING"])
    before = rss(proc.pid)
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", port))
    handshake(sock, "/ws", "Sec-WebSocket-Protocol: chat\r\n")
    batch = frame(0x9, b"p" * 125) * 500
    end = time.time() + a.seconds
    sent = 0
    sock.settimeout(1.0)
    try:
        while time.time() < end:
            try:
                sock.sendall(batch)
                sent += len(batch)
            except socket.timeout:
                pass
    except OSError as exc:
        print("client send stopped:", exc)
    peak = rss(proc.pid)
    print(f"pings: sent {sent / 1e6:.0f} MB of pings in {a.seconds} s; server RSS "
          f"{before:.0f} MB -> {peak:.0f} MB")
    proc.kill()


def _flood_fragments(sock, total, rsv=0, payload=b""):
    sock.sendall(frame(0x2, b"", fin=False, rsv=rsv))
    batch = frame(0x0, payload, fin=False) * 10000
    sent = 0
    try:
        while sent < total:
            sock.sendall(batch)
            sent += len(batch)
    except OSError as exc:
        return sent, f"stopped: {exc.__class__.__name__}"
    return sent, "all sent"


def _closed_with(sock):
    sock.settimeout(5)
    try:
        data = sock.recv(65536)
    except OSError as exc:
        return f"recv: {exc.__class__.__name__}"
    if len(data) >= 4 and data[0] & 0x0F == 0x8:
        return f"close {struct.unpack('!H', data[2:4])[0]}"
    return f"got {data[:20]!r}"


def fragments(a):
    proc, port = start(["echo"])
    before = rss(proc.pid)
    sock = socket.socket()
    sock.connect(("127.0.0.1", port))
    extra = "Sec-WebSocket-Extensions: permessage-deflate\r\n" if a.deflate else ""
    head, _ = handshake(sock, "/", extra)
    if a.deflate:
        assert b"permessage-deflate" in head
    peak = [before]
    stop = threading.Event()

    def watch():
        while not stop.is_set():
            peak[0] = max(peak[0], rss(proc.pid))
            time.sleep(0.05)

    t = threading.Thread(target=watch)
    t.start()
    sent, how = _flood_fragments(sock, a.mb * 1_000_000, rsv=4 if a.deflate else 0,
                                 payload=b"xy"[:a.payload])
    time.sleep(1)
    stop.set()
    t.join()
    after = rss(proc.pid)
    print(f"fragments{' deflate' if a.deflate else ''}: sent {sent / 1e6:.1f} MB of {a.payload}-byte "
          f"continuations ({how}); server RSS {before:.0f} MB -> peak {peak[0]:.0f} MB, "
          f"then {after:.0f} MB; {_closed_with(sock)}")
    proc.kill()


def client_frags(a):
    from hashlib import sha1
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    port = listener.getsockname()[1]
    code = ("from gevent import monkey; monkey.patch_all()\n"
            "import sys\nfrom wsframework import connect\n"
            f"c = connect('ws://127.0.0.1:{port}/', permessage_deflate=False)\n"
            "c.wait_closed(); print('client closed', c.close_reason_code, flush=True)\n"
            "import time; time.sleep(30)\n")
    proc = subprocess.Popen([PY, "-c", code], stdout=subprocess.PIPE, text=True)
    sock, _ = listener.accept()
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(4096)
    key = [l.split(b":", 1)[1].strip() for l in data.split(b"\r\n")
           if l.lower().startswith(b"sec-websocket-key:")][0]
    accept = base64.b64encode(sha1(key + b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest())
    sock.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                 b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n\r\n")
    time.sleep(0.5)
    before = rss(proc.pid)
    sock.sendall(frame(0x2, b"", fin=False, mask=False))
    batch = frame(0x0, b"", fin=False, mask=False) * 10000
    sent = 0
    how = "all sent"
    try:
        while sent < a.mb * 1_000_000:
            sock.sendall(batch)
            sent += len(batch)
    except OSError as exc:
        how = f"stopped: {exc.__class__.__name__}"
    time.sleep(1)
    after = rss(proc.pid)
    print(f"client-frags: sent {sent / 1e6:.1f} MB of empty continuations ({how}); client "
          f"RSS {before:.0f} MB -> {after:.0f} MB; {_closed_with(sock)}")
    proc.kill()


def send_q(port):
    out = subprocess.run(["ss", "-tnH", "state", "all", f"sport = :{port}"],
                         capture_output=True, text=True).stdout
    total, conns = 0, 0
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 4 and parts[0] != "LISTEN":
            conns += 1
            total += int(parts[2])
    return conns, total


def slowhttp(a):
    proc, port = start(["serve", "--log-level", "WARNING"])
    before = rss(proc.pid)
    request = b"GET /static/chat.js HTTP/1.1\r\nHost: x\r\n\r\n"
    socks = []
    for _ in range(a.clients):
        s = socket.socket()
        if not a.drip:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1024)
        s.connect(("127.0.0.1", port))
        s.settimeout(0.2)
        socks.append(s)

    def pump(s):
        try:
            while True:
                s.sendall(request * 50)
        except OSError:
            pass

    def drip(s):
        while True:
            time.sleep(5)
            try:
                s.settimeout(5)
                s.recv(1)
            except OSError:
                return

    for s in socks:
        threading.Thread(target=pump, args=(s,), daemon=True).start()
        if a.drip:
            threading.Thread(target=drip, args=(s,), daemon=True).start()
    start_t = time.time()
    marks = [5, 15, 35, 65, a.seconds]
    for mark in marks:
        while time.time() - start_t < mark:
            time.sleep(0.2)
        conns, q = send_q(port)
        print(f"slowhttp t={mark:>3}s: {conns} server-side connections, server Send-Q "
              f"{q / 1e6:.2f} MB, RSS {before:.0f} -> {rss(proc.pid):.0f} MB", flush=True)
    proc.kill()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("what")
    p.add_argument("--seconds", type=float, default=8)
    p.add_argument("--mb", type=int, default=63)
    p.add_argument("--deflate", action="store_true")
    p.add_argument("--payload", type=int, default=0)
    p.add_argument("--drip", action="store_true")
    p.add_argument("--clients", type=int, default=5)
    a = p.parse_args()
    {"pings": pings, "fragments": fragments, "client-frags": client_frags,
     "slowhttp": slowhttp}[a.what](a)


if __name__ == "__main__":
    main()
