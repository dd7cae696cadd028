"""The protocol core without sockets: bytes in, events and bytes out."""
