"""The WebSocket protocol without I/O: frames, parsing, handshakes, HTTP heads,
extensions, close codes, masking and UTF-8.  Nothing here imports gevent or
touches a socket; the layer above feeds these modules bytes."""
