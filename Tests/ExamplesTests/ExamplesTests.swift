import Testing

/// Every example test runs inside this suite, one at a time: they start real daemons and
/// processes, and the machine they run on has two cores.
///
/// The tests run the built executables (an executable target cannot be imported) and check
/// their exit status, standard output and standard error, against real peers: AsyncCurl's
/// `LoopbackServer`, `redis-server`, `nginx`, `tinyproxy` and Python `websockets` (from the
/// shared `TestPeers` target). A test whose daemon is not installed is skipped, except in CI
/// (`CI=true`), where it fails and names the Debian package.
@Suite(.serialized, .timeLimit(.minutes(5)))
struct ExamplesTests {}
