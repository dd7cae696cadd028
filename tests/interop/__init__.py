"""Against independent peers: websockets, ws and WebSocket-Node (in this folder)."""
