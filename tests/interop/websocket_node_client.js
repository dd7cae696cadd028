'use strict';
// Scripted client built on WebSocket-Node (`websocket` 1.0.35):
//   node websocket_node_client.js URL [--steps=text,binary,empty,fragmented,large,ping]
//                                 [--close=CODE[:REASON] | --await-close] [--protocol=P]
//
// Same steps and output as ws_client.js.  WebSocket-Node cannot be told
// where to cut a message, so the fragmented steps send the joined parts and
// let fragmentationThreshold (4 KiB here) cut them; the large messages are
// fragmented the same way.

const { client: WebSocketClient } = require('websocket');
const common = require('./common');

const FRAGMENTATION_THRESHOLD = 4096;

async function main() {
  const args = common.parseClientArgs(process.argv.slice(2));
  const client = new WebSocketClient({
    maxReceivedFrameSize: common.MAX_MESSAGE_SIZE,
    maxReceivedMessageSize: common.MAX_MESSAGE_SIZE,
    fragmentOutgoingMessages: true,
    fragmentationThreshold: FRAGMENTATION_THRESHOLD,
  });
  const connection = await common.withTimeout(new Promise((resolve, reject) => {
    client.once('connect', resolve);
    client.once('connectFailed', reject);
    client.connect(args.url, args.protocol ? [args.protocol] : null);
  }), 'connect');
  // WebSocket-Node negotiates no extension.
  common.emit({ event: 'open', protocol: connection.protocol || null, extensions: null });

  const inbox = new common.Inbox();
  const pongs = new common.Inbox();
  const closed = new Promise((resolve) => {
    connection.on('close', (code, reason) => {
      const error = new Error(`connection closed (${code})`);
      inbox.fail(error);
      pongs.fail(error);
      resolve({ code, reason: reason === undefined ? null : reason });
    });
  });
  const onMessage = (message) => inbox.push(message);
  connection.on('message', onMessage);
  connection.on('pong', (data) => pongs.push(data));
  connection.on('ping', (cancel, data) => common.emit({ event: 'ping', data: data.toString('utf8') }));
  connection.on('error', (error) => common.emit({ event: 'socket-error', message: String(error) }));

  const describe = (message) => (message.type === 'binary'
    ? common.describe(true, message.binaryData) : common.describe(false, message.utf8Data));
  const echo = async (step) => {
    const message = await inbox.next(`the echo of ${step}`);
    common.emit({ step, ...describe(message) });
  };

  for (const step of args.steps) {
    if (step === 'text') {
      connection.sendUTF(common.TEXT);
      await echo('text');
    } else if (step === 'binary') {
      connection.sendBytes(common.BINARY);
      await echo('binary');
    } else if (step === 'empty') {
      connection.sendUTF('');
      await echo('empty-text');
      connection.sendBytes(Buffer.alloc(0));
      await echo('empty-binary');
    } else if (step === 'fragmented') {
      connection.sendUTF(common.FRAGMENT_TEXT_PARTS.join(''));
      await echo('fragmented-text');
      connection.sendBytes(Buffer.concat(common.FRAGMENT_BINARY_PARTS));
      await echo('fragmented-binary');
    } else if (step === 'large') {
      connection.sendBytes(common.largeBinary());
      await echo('large-binary');
      connection.sendUTF(common.largeText());
      await echo('large-text');
    } else if (step === 'ping') {
      connection.ping(Buffer.from('ping from websocket-node ✓', 'utf8'));
      const data = await pongs.next('pong');
      common.emit({ step: 'ping', pong: data.toString('utf8') });
    } else {
      throw new Error(`unknown step ${step}`);
    }
  }

  if (args.awaitClose) {
    const report = (message) => common.emit({ event: 'message', ...describe(message) });
    inbox.items.splice(0).forEach(report);
    connection.removeListener('message', onMessage);
    connection.on('message', report);
  } else {
    if (args.closeCode === null) connection.close();
    else connection.close(args.closeCode, args.closeReason);
  }
  const { code, reason } = await common.withTimeout(closed, 'close');
  common.emit({ event: 'close', code, reason });
  process.exit(0);
}

main().catch(common.fatal);
