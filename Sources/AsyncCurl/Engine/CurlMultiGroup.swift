import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Several engines with connections spread over them, for a process with many cores.
///
/// One ``CurlMulti`` runs every libcurl call of its connections under one lock: the TLS
/// encryption and decryption of its connections' sends and receives happen one at a time,
/// whatever the number of cores. The engines of a group share nothing — each has its own multi
/// handle, lock, queue, readiness thread and connection caches — so connections on different
/// engines do their TLS work in parallel. ``connect(to:options:)`` hands each new connection to
/// the next engine in turn.
///
/// ```swift
/// let group = CurlMultiGroup.shared            // one engine per core
/// let connection = try await group.connect(to: "tls://db.internal:6380", options: options)
/// ```
///
/// A connection stays on its engine for its whole life (``AsyncConnection/multi``). Plain TCP
/// connections gain little from a group: once open, their bytes go through `send(2)` and
/// `recv(2)` on the callers' threads without the lock.
public final class CurlMultiGroup: Sendable {
    /// A process-wide group with one engine per online processor.
    public static let shared = CurlMultiGroup()

    /// The group's engines, in the order connections are handed to them.
    public let engines: [CurlMulti]

    private let nextIndex = Atomic<Int>(0)

    /// Creates a group of `engineCount` engines; by default one per online processor.
    ///
    /// - Parameters:
    ///   - engineCount: How many engines, clamped to 1…256. `nil` uses the number of
    ///     online processors (`sysconf(_SC_NPROCESSORS_ONLN)`).
    ///   - setUpLimit: Each engine's ``CurlMulti/SetUpLimit``.
    public init(engineCount: Int? = nil, setUpLimit: CurlMulti.SetUpLimit = .default) {
        let count = min(max(engineCount ?? Self.onlineProcessorCount, 1), 256)
        engines = (0..<count).map { _ in CurlMulti(setUpLimit: setUpLimit) }
    }

    /// The number of online processors, at least 1.
    static var onlineProcessorCount: Int {
        max(Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))), 1)
    }

    /// The engine the next connection goes to: each engine in turn.
    public func next() -> CurlMulti {
        let index = nextIndex.add(1, ordering: .relaxed).oldValue
        return engines[Int(UInt(bitPattern: index) % UInt(engines.count))]
    }

    /// Opens a connection on the next engine; see ``CurlMulti/connect(to:options:)``.
    public func connect(to url: String, options: ConnectionOptions = ConnectionOptions()) async throws -> AsyncConnection {
        try await next().connect(to: url, options: options)
    }

    /// Opens a connection on the next engine, runs `body` with it and closes it on every way out;
    /// see ``CurlMulti/withConnection(to:options:isolation:_:)``.
    public func withConnection<Result>(
        to url: String,
        options: ConnectionOptions = ConnectionOptions(),
        isolation: isolated (any Actor)? = #isolation,
        _ body: (AsyncConnection) async throws -> Result
    ) async throws -> Result {
        try await next().withConnection(to: url, options: options, isolation: isolation, body)
    }

    /// Shuts every engine down; see ``CurlMulti/shutdown()``.
    public func shutdown() async {
        for engine in engines {
            await engine.shutdown()
        }
    }

    /// Each engine's counts, in the order of ``engines``.
    public var diagnostics: [CurlMulti.Diagnostics] {
        get async {
            var all: [CurlMulti.Diagnostics] = []
            for engine in engines {
                all.append(await engine.diagnostics)
            }
            return all
        }
    }
}
