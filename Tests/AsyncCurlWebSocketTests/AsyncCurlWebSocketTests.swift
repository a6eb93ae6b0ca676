import Testing

/// The WebSocket module's tests: the codec and state machines as value types, without sockets,
/// and the client against real servers.
@Suite struct AsyncCurlWebSocketTests {}
