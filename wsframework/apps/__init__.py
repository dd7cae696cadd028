"""Applications built on the library: the chat server, the command line, the
bots and the interactive client."""
