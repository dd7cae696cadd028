'use strict';
// Echo server built on `ws`: node ws_echo_server.js [--deflate]
//
// Listens on 127.0.0.1, port 0, and prints the port as its first stdout
// line.  Echoes text as text and binary as binary, greets connections to
// .../greet, and obeys the commands described in common.js.  Then prints one JSON line per event:
//   {"event":"connection","path":..,"protocol":..,"origin":..,"extensions":..,
//    "extensionsHeader":<the Sec-WebSocket-Extensions line ws answered, or null>}
//   {"event":"message","path":..,"type":..,"length":..,"sha256":..,(data|hex)}
//   {"event":"pong","path":..,"data":..}
//   {"event":"close","path":..,"code":..,"reason":..,"bytesRead":..,"bytesWritten":..}
// `path` is the request path, so a test can pick out its own connection.
// `extensions` is what ws reports (the names only); bytesRead/bytesWritten
// count the connection's TCP bytes, so a test can tell compression happened.

const { WebSocketServer } = require('ws');
const common = require('./common');

// --deflate: accept permessage-deflate offers (off by default, as in ws).
const deflate = process.argv.includes('--deflate');

const server = new WebSocketServer({
  host: '127.0.0.1',
  port: 0,
  maxPayload: common.MAX_MESSAGE_SIZE,
  perMessageDeflate: deflate ? { threshold: 0 } : false,
  handleProtocols: (protocols) => (protocols.size ? protocols.values().next().value : false),
});

// The Sec-WebSocket-Extensions header of each 101 response, by request.
const answered = new WeakMap();
server.on('headers', (headers, request) => {
  const line = headers.find((h) => h.toLowerCase().startsWith('sec-websocket-extensions:'));
  answered.set(request, line ? line.slice(line.indexOf(':') + 1).trim() : null);
});

server.on('listening', () => {
  process.stdout.write(`${server.address().port}\n`);
});

server.on('connection', (ws, request) => {
  const path = request.url;
  common.emit({ event: 'connection', path, protocol: ws.protocol || null,
    origin: request.headers.origin || null, extensions: ws.extensions || null,
    extensionsHeader: answered.get(request) || null });
  if (path.endsWith('/greet')) ws.send(common.GREETING);

  ws.on('message', (data, isBinary) => {
    common.emit({ event: 'message', path, ...common.describe(isBinary, isBinary ? data : data.toString('utf8')) });
    const command = isBinary ? null : common.parseCommand(data.toString('utf8'));
    if (!command) {
      ws.send(data, { binary: isBinary });
      return;
    }
    if (command.op === 'close') {
      ws.close(command.code, command.reason);
    } else if (command.op === 'ping') {
      ws.ping(Buffer.from(command.data, 'utf8'));
    } else if (command.op === 'fragments') {
      const binary = command.type === 'binary';
      const parts = binary ? common.FRAGMENT_BINARY_PARTS : common.FRAGMENT_TEXT_PARTS;
      parts.forEach((part, i) => ws.send(part, { binary, fin: i === parts.length - 1 }));
    } else {
      ws.close(1003, `unknown command ${command.op}`);
    }
  });

  ws.on('pong', (data) => {
    const text = data.toString('utf8');
    common.emit({ event: 'pong', path, data: text });
    ws.send(`pong:${text}`);
  });

  ws.on('close', (code, reason) => {
    common.emit({ event: 'close', path, code, reason: reason.toString('utf8'),
      bytesRead: request.socket.bytesRead, bytesWritten: request.socket.bytesWritten });
  });

  ws.on('error', (error) => {
    common.emit({ event: 'error', path, message: String(error) });
  });
});

server.on('error', common.fatal);
process.on('SIGTERM', () => process.exit(0));
