'use strict';
// Echo server built on WebSocket-Node (`websocket` 1.0.35):
//   node websocket_node_echo_server.js
//
// Listens on 127.0.0.1, port 0, and prints the port as its first stdout
// line.  Echoes text as text and binary as binary, greets connections to
// .../greet, and obeys the commands described in common.js; outgoing messages over 4 KiB are fragmented
// (fragmentationThreshold), which is how this library fragments.  Then
// prints one JSON line per event, as ws_echo_server.js does:
//   {"event":"connection","path":..,"protocol":..,"origin":..,"extensions":null,
//    "offeredExtensions":<the client's Sec-WebSocket-Extensions, or null>}
//   (WebSocket-Node implements no extension: it never agrees to one)
//   {"event":"message","path":..,"type":..,"length":..,"sha256":..,(data|hex)}
//   {"event":"pong","path":..,"data":..}
//   {"event":"close","path":..,"code":..,"reason":..}

const http = require('http');
const { server: WebSocketServer } = require('websocket');
const common = require('./common');

const FRAGMENTATION_THRESHOLD = 4096;

const httpServer = http.createServer((req, res) => {
  res.writeHead(404);
  res.end();
});

const wsServer = new WebSocketServer({
  httpServer,
  autoAcceptConnections: false,
  maxReceivedFrameSize: common.MAX_MESSAGE_SIZE,
  maxReceivedMessageSize: common.MAX_MESSAGE_SIZE,
  fragmentOutgoingMessages: true,
  fragmentationThreshold: FRAGMENTATION_THRESHOLD,
  keepalive: false,
});

wsServer.on('request', (request) => {
  const path = request.resource;
  const protocol = request.requestedProtocols.length ? request.requestedProtocols[0] : null;
  const connection = request.accept(protocol, request.origin);
  common.emit({ event: 'connection', path, protocol: connection.protocol || null,
    origin: request.origin || null, extensions: null,
    offeredExtensions: request.httpRequest.headers['sec-websocket-extensions'] || null });
  if (path.endsWith('/greet')) connection.sendUTF(common.GREETING);

  connection.on('message', (message) => {
    const isBinary = message.type === 'binary';
    const data = isBinary ? message.binaryData : message.utf8Data;
    common.emit({ event: 'message', path, ...common.describe(isBinary, data) });
    const command = isBinary ? null : common.parseCommand(data);
    if (!command) {
      if (isBinary) connection.sendBytes(data);
      else connection.sendUTF(data);
      return;
    }
    if (command.op === 'close') {
      connection.close(command.code, command.reason);
    } else if (command.op === 'ping') {
      connection.ping(Buffer.from(command.data, 'utf8'));
    } else if (command.op === 'fragments') {
      // Longer than the threshold, so fragmentAndSend cuts it into frames.
      if (command.type === 'binary') connection.sendBytes(Buffer.concat(common.FRAGMENT_BINARY_PARTS));
      else connection.sendUTF(common.FRAGMENT_TEXT_PARTS.join(''));
    } else {
      connection.close(1003, `unknown command ${command.op}`);
    }
  });

  connection.on('pong', (data) => {
    const text = data.toString('utf8');
    common.emit({ event: 'pong', path, data: text });
    connection.sendUTF(`pong:${text}`);
  });

  connection.on('close', (code, reason) => {
    common.emit({ event: 'close', path, code, reason: reason === undefined ? null : reason });
  });

  connection.on('error', (error) => {
    common.emit({ event: 'error', path, message: String(error) });
  });
});

httpServer.on('error', common.fatal);
httpServer.listen(0, '127.0.0.1', () => {
  process.stdout.write(`${httpServer.address().port}\n`);
});
process.on('SIGTERM', () => process.exit(0));
