"""The gevent layer over real sockets on 127.0.0.1: server, client, connection."""
