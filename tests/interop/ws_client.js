'use strict';
// Scripted client built on `ws`:
//   node ws_client.js URL [--steps=text,binary,empty,fragmented,large,random,ping]
//                         [--close=CODE[:REASON] | --await-close] [--protocol=P]
//                         [--deflate] [--stats]
//
// Runs the steps against an echo server, in order, each waiting for its
// echo, then closes (or waits for the server to close).  Prints one JSON
// line per result:
//   {"event":"open","protocol":..,"extensions":<negotiated, or null>}
//                                (with --deflate, also "extensionsHeader": the
//                                server's Sec-WebSocket-Extensions, or null)
//   {"step":"random",...,"sentSha256":..}  the echo of RANDOM_SIZE random bytes,
//                                and the SHA-256 of what was sent
//   {"event":"stats","bytesRead":..,"bytesWritten":..}  with --stats, the TCP
//                                bytes of the connection, just before "close"
//   {"step":"text"|"binary"|"empty-text"|"empty-binary"|"fragmented-text"|"fragmented-binary"|
//           "large-binary"|"large-text", "type":..,"length":..,"sha256":..,(data|hex)}
//   {"step":"ping","pong":<payload of the pong>}
//   {"event":"message",...}      a message that arrived while awaiting close
//   {"event":"ping","data":..}   a ping from the server (ws answers it)
//   {"event":"close","code":..,"reason":..}
// and exits 0, or prints {"event":"error",...} and exits 1.

const crypto = require('crypto');
const WebSocket = require('ws');
const common = require('./common');

// The "random" step: incompressible data, over 1 MiB, fresh on every run.
const RANDOM_SIZE = 2 * 1024 * 1024 + 7;

async function main() {
  const args = common.parseClientArgs(process.argv.slice(2));
  const ws = new WebSocket(args.url, args.protocol ? [args.protocol] : [], {
    maxPayload: common.MAX_MESSAGE_SIZE,
    // --deflate: offer permessage-deflate (compressing every message).
    perMessageDeflate: args.deflate ? { threshold: 0 } : false,
  });
  const inbox = new common.Inbox();
  const pongs = new common.Inbox();
  const closed = new Promise((resolve) => {
    ws.on('close', (code, reason) => {
      const error = new Error(`connection closed (${code})`);
      inbox.fail(error);
      pongs.fail(error);
      resolve({ code, reason: reason.toString('utf8') });
    });
  });
  ws.on('message', (data, isBinary) => inbox.push({ isBinary, data }));
  ws.on('pong', (data) => pongs.push(data));
  ws.on('ping', (data) => common.emit({ event: 'ping', data: data.toString('utf8') }));
  ws.on('error', (error) => common.emit({ event: 'socket-error', message: String(error) }));
  let extensionsHeader = null;
  ws.on('upgrade', (response) => {
    extensionsHeader = response.headers['sec-websocket-extensions'] || null;
  });

  await common.withTimeout(new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  }), 'open');
  const opened = { event: 'open', protocol: ws.protocol || null, extensions: ws.extensions || null };
  if (args.deflate) opened.extensionsHeader = extensionsHeader;
  common.emit(opened);
  const socket = ws._socket;  // kept for --stats: ws drops it on close

  const echo = async (step) => {
    const { isBinary, data } = await inbox.next(`the echo of ${step}`);
    common.emit({ step, ...common.describe(isBinary, isBinary ? data : data.toString('utf8')) });
  };

  for (const step of args.steps) {
    if (step === 'text') {
      ws.send(common.TEXT);
      await echo('text');
    } else if (step === 'binary') {
      ws.send(common.BINARY);
      await echo('binary');
    } else if (step === 'empty') {
      ws.send('');
      await echo('empty-text');
      ws.send(Buffer.alloc(0));
      await echo('empty-binary');
    } else if (step === 'fragmented') {
      // One frame per part: fin only on the last one.
      for (const [name, parts, binary] of [
        ['fragmented-text', common.FRAGMENT_TEXT_PARTS, false],
        ['fragmented-binary', common.FRAGMENT_BINARY_PARTS, true],
      ]) {
        parts.forEach((part, i) => ws.send(part, { binary, fin: i === parts.length - 1 }));
        await echo(name);
      }
    } else if (step === 'large') {
      ws.send(common.largeBinary());
      await echo('large-binary');
      ws.send(common.largeText());
      await echo('large-text');
    } else if (step === 'random') {
      const data = crypto.randomBytes(RANDOM_SIZE);
      ws.send(data);
      const { isBinary, data: echoed } = await inbox.next('the echo of random');
      common.emit({ step: 'random', ...common.describe(isBinary, isBinary ? echoed : echoed.toString('utf8')),
        sentSha256: common.sha256(data) });
    } else if (step === 'ping') {
      ws.ping(Buffer.from('ping from ws ✓', 'utf8'));
      const data = await pongs.next('pong');
      common.emit({ step: 'ping', pong: data.toString('utf8') });
    } else {
      throw new Error(`unknown step ${step}`);
    }
  }

  if (args.awaitClose) {
    // Report whatever else arrives until the server closes.
    const report = ({ isBinary, data }) => common.emit({
      event: 'message', ...common.describe(isBinary, isBinary ? data : data.toString('utf8')) });
    inbox.items.splice(0).forEach(report);
    ws.removeAllListeners('message');
    ws.on('message', (data, isBinary) => report({ isBinary, data }));
  } else {
    if (args.closeCode === null) ws.close();  // a close frame with no body
    else ws.close(args.closeCode, args.closeReason);
  }
  const { code, reason } = await common.withTimeout(closed, 'close');
  if (args.stats) {
    common.emit({ event: 'stats', bytesRead: socket.bytesRead, bytesWritten: socket.bytesWritten });
  }
  common.emit({ event: 'close', code, reason });
  process.exit(0);
}

main().catch(common.fatal);
