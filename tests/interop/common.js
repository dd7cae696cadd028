'use strict';
// Helpers shared by the Node peers of wsframework's interoperability tests.
//
// Every peer talks to the Python test over stdout: one JSON object per line
// (servers print their port alone on the first line).  The payloads built
// here are rebuilt independently by tests/interop_peers.py; keep the two in
// step.

const crypto = require('crypto');

// Messages at least this large must get through (servers and clients are
// configured for twice as much).
const MAX_MESSAGE_SIZE = 64 * 1024 * 1024;

// Text with 2-, 3- and 4-byte UTF-8 sequences.
const TEXT = 'interop: ünïcödé ✓ 🚀';

// 0x00 .. 0xff
const BINARY = Buffer.from(Array.from({ length: 256 }, (_, i) => i));

// A fragmented message is sent as these parts (one frame each where the
// library lets us choose, else cut by fragmentationThreshold).
const FRAGMENT_TEXT_PARTS = [1, 2, 3].map((k) => `part-${k}` + ' ✓ '.repeat(1000));
const FRAGMENT_BINARY_PARTS = [1, 2, 3].map((k) => Buffer.alloc(5000, k));

// 16 MiB + 13 bytes: byte i is i % 251, so frame and mask boundaries never
// line up with the pattern.
const LARGE_BINARY_SIZE = 16 * 1024 * 1024 + 13;
// LARGE_TEXT_UNIT repeated until its UTF-8 encoding is at least 16 MiB.
const LARGE_TEXT_UNIT = 'wsframework ✓ ü 🚀 ';
const LARGE_TEXT_MIN_BYTES = 16 * 1024 * 1024;

function largeBinary() {
  const buf = Buffer.allocUnsafe(LARGE_BINARY_SIZE);
  for (let i = 0; i < LARGE_BINARY_SIZE; i++) buf[i] = i % 251;
  return buf;
}

function largeText() {
  const unitBytes = Buffer.byteLength(LARGE_TEXT_UNIT, 'utf8');
  return LARGE_TEXT_UNIT.repeat(Math.ceil(LARGE_TEXT_MIN_BYTES / unitBytes));
}

function sha256(data) {
  return crypto.createHash('sha256').update(data).digest('hex');
}

function emit(obj) {
  process.stdout.write(JSON.stringify(obj) + '\n');
}

// Describe a received message compactly: small ones verbatim (text) or as
// hex (binary), large ones by length and SHA-256.
function describe(isBinary, data) {
  const buf = isBinary ? data : Buffer.from(data, 'utf8');
  const out = { type: isBinary ? 'binary' : 'text', length: buf.length };
  if (buf.length <= 65536) {
    if (isBinary) out.hex = buf.toString('hex');
    else out.data = data;
  }
  out.sha256 = sha256(buf);
  return out;
}

// The echo servers send this text as soon as a connection to a path ending
// in /greet opens, so the first frame may share a TCP segment with the 101
// response.
const GREETING = 'greeting ✓';

// Text messages starting with this prefix are commands to the echo servers:
//   cmd:{"op":"close","code":4000,"reason":"..."}   close the connection (without
//                                                   "code": the library's default)
//   cmd:{"op":"ping","data":"..."}                  ping; on pong, send the
//                                                   text "pong:<data>"
//   cmd:{"op":"fragments","type":"text"|"binary"}   send FRAGMENT_*_PARTS as
//                                                   one fragmented message
const COMMAND_PREFIX = 'cmd:';

function parseCommand(text) {
  if (typeof text !== 'string' || !text.startsWith(COMMAND_PREFIX)) return null;
  return JSON.parse(text.slice(COMMAND_PREFIX.length));
}

// Command-line options of the clients: URL, then --key=value flags.
//   --steps=text,binary,empty,fragmented,large,ping
//                             (default: text,binary,fragmented,large,ping)
//   --close=CODE[:REASON]     close with CODE after the steps (default 1000);
//                             --close=none closes with the library's default
//                             (ws: a close frame with no status code)
//   --await-close             instead, wait for the server to close
//   --protocol=P              request subprotocol P
//   --deflate                 offer permessage-deflate (ws only)
//   --stats                   report the connection's TCP byte counts (ws only)
function parseClientArgs(argv) {
  const args = { url: null, steps: ['text', 'binary', 'fragmented', 'large', 'ping'],
    closeCode: 1000, closeReason: '', awaitClose: false, protocol: null, deflate: false,
    stats: false };
  for (const arg of argv) {
    if (arg.startsWith('--steps=')) {
      const value = arg.slice('--steps='.length);
      args.steps = value ? value.split(',') : [];
    } else if (arg.startsWith('--close=')) {
      const value = arg.slice('--close='.length);
      const colon = value.indexOf(':');
      const code = colon < 0 ? value : value.slice(0, colon);
      args.closeCode = code === 'none' ? null : parseInt(code, 10);
      args.closeReason = colon < 0 ? '' : value.slice(colon + 1);
    } else if (arg === '--await-close') {
      args.awaitClose = true;
    } else if (arg === '--deflate') {
      args.deflate = true;
    } else if (arg === '--stats') {
      args.stats = true;
    } else if (arg.startsWith('--protocol=')) {
      args.protocol = arg.slice('--protocol='.length);
    } else if (!args.url) {
      args.url = arg;
    } else {
      throw new Error(`unexpected argument ${arg}`);
    }
  }
  if (!args.url) throw new Error('usage: node CLIENT.js URL [--steps=..] [--close=CODE:REASON | --await-close]');
  return args;
}

// A queue of received messages that a scripted client can await in order.
class Inbox {
  constructor() {
    this.items = [];
    this.waiters = [];
    this.closed = null;
  }

  push(item) {
    const waiter = this.waiters.shift();
    if (waiter) waiter.resolve(item);
    else this.items.push(item);
  }

  fail(error) {
    this.closed = error;
    for (const waiter of this.waiters.splice(0)) waiter.reject(error);
  }

  next(what, timeoutMs = 20000) {
    if (this.items.length) return Promise.resolve(this.items.shift());
    if (this.closed) return Promise.reject(this.closed);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), timeoutMs);
      this.waiters.push({
        resolve: (v) => { clearTimeout(timer); resolve(v); },
        reject: (e) => { clearTimeout(timer); reject(e); },
      });
    });
  }
}

function withTimeout(promise, what, timeoutMs = 20000) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), timeoutMs);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

function fatal(error) {
  emit({ event: 'error', message: String(error && error.stack || error) });
  process.exit(1);
}

module.exports = {
  MAX_MESSAGE_SIZE, TEXT, BINARY, FRAGMENT_TEXT_PARTS, FRAGMENT_BINARY_PARTS,
  LARGE_BINARY_SIZE, largeBinary, largeText, sha256, emit, describe,
  GREETING, COMMAND_PREFIX, parseCommand, parseClientArgs, Inbox, withTimeout, fatal,
};
