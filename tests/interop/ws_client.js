'use strict';
// Scripted client built on `ws`:
//   node ws_client.js URL [--steps=text,binary,empty,fragmented,large,ping]
//                         [--close=CODE[:REASON] | --await-close] [--protocol=P]
//                         [--deflate]
//
// Runs the steps against an echo server, in order, each waiting for its
// echo, then closes (or waits for the server to close).  Prints one JSON
// line per result:
//   {"event":"open","protocol":..,"extensions":<negotiated, or null>}
//   {"step":"text"|"binary"|"empty-text"|"empty-binary"|"fragmented-text"|"fragmented-binary"|
//           "large-binary"|"large-text", "type":..,"length":..,"sha256":..,(data|hex)}
//   {"step":"ping","pong":<payload of the pong>}
//   {"event":"message",...}      a message that arrived while awaiting close
//   {"event":"ping","data":..}   a ping from the server (ws answers it)
//   {"event":"close","code":..,"reason":..}
// and exits 0, or prints {"event":"error",...} and exits 1.

const WebSocket = require('ws');
const common = require('./common');

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

  await common.withTimeout(new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  }), 'open');
  common.emit({ event: 'open', protocol: ws.protocol || null, extensions: ws.extensions || null });

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
  common.emit({ event: 'close', code, reason });
  process.exit(0);
}

main().catch(common.fatal);
