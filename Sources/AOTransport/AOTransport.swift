/// AOTransport: the pure frame codec, the authenticated handshake and the `Transport` seam.
