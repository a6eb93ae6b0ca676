// swift-tools-version: 6.0
import PackageDescription

let package = Package(
    name: "AsyncCurl",
    products: [
        .library(name: "AsyncCurl", targets: ["AsyncCurl"]),
        .library(name: "AsyncCurlWebSocket", targets: ["AsyncCurlWebSocket"]),
    ],
    dependencies: [
        // Connection events and libcurl's trace for a `Logger` (ConnectionOptions.logger).
        .package(url: "https://github.com/apple/swift-log", from: "1.16.0"),
        // HTTPRequest, HTTPResponse and HTTPFields for transfers and the HTTP hand-over.
        .package(url: "https://github.com/apple/swift-http-types", from: "1.3.0"),
        // Documentation only (`make docs`); nothing links against it.
        .package(url: "https://github.com/swiftlang/swift-docc-plugin", from: "1.5.0"),
    ],
    targets: [
        // libcurl itself, found with pkg-config. The module's header only adds typed,
        // non-variadic wrappers for the functions Swift cannot call (see shim.h).
        .systemLibrary(
            name: "CCurl",
            pkgConfig: "libcurl",
            providers: [.apt(["libcurl4-openssl-dev"])]
        ),
        // <sys/epoll.h> and <sys/eventfd.h>, which Swift's Glibc module does not export.
        .systemLibrary(name: "CEpoll"),
        .target(
            name: "AsyncCurl",
            dependencies: [
                "CCurl", "CEpoll",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
            ]
        ),
        // zlib, for permessage-deflate: the header and the link only.
        .systemLibrary(name: "CZlib", providers: [.apt(["zlib1g-dev"])]),
        // The WebSocket client (RFC 6455, RFC 7692) on AsyncConnection.
        .target(name: "AsyncCurlWebSocket", dependencies: ["AsyncCurl", "CZlib"]),
        // A small loopback TCP server used by the tests and by the demo. Not a product.
        .target(
            name: "LoopbackServer",
            dependencies: ["CEpoll"],
            path: "Sources/LoopbackServer"
        ),
        .executableTarget(
            name: "demo",
            dependencies: ["AsyncCurl", "LoopbackServer"],
            path: "Examples/demo"
        ),
        // Examples that do real jobs (see each one's --help). They need nothing but AsyncCurl
        // (and wscat its WebSocket module, fetch HTTPTypes).
        .executableTarget(name: "curlcat", dependencies: ["AsyncCurl"], path: "Examples/curlcat"),
        .executableTarget(name: "redis-client", dependencies: ["AsyncCurl"], path: "Examples/redis-client"),
        .executableTarget(name: "http-get", dependencies: ["AsyncCurl"], path: "Examples/http-get"),
        .executableTarget(name: "sendmail", dependencies: ["AsyncCurl"], path: "Examples/sendmail"),
        .executableTarget(name: "wscat", dependencies: ["AsyncCurl", "AsyncCurlWebSocket"], path: "Examples/wscat"),
        .executableTarget(
            name: "fetch",
            dependencies: ["AsyncCurl", .product(name: "HTTPTypes", package: "swift-http-types")],
            path: "Examples/fetch"
        ),
        // The client side of Autobahn|Testsuite's fuzzingserver (`make autobahn`, AUTOBAHN.md).
        .executableTarget(
            name: "autobahn-client",
            dependencies: ["AsyncCurl", "AsyncCurlWebSocket"],
            path: "Examples/autobahn-client",
            exclude: ["fuzzingserver.py", "summarize.py", "run-autobahn.sh"]
        ),
        // The tests' real peers (daemons started on loopback, the throwaway CA) and their
        // helpers, shared by the test targets. Not a product; test code only.
        .target(
            name: "TestPeers",
            dependencies: ["AsyncCurl", "LoopbackServer", .product(name: "Logging", package: "swift-log")],
            path: "Tests/TestPeers"
        ),
        .testTarget(
            name: "AsyncCurlTests",
            dependencies: [
                "AsyncCurl", "CCurl", "LoopbackServer", "TestPeers",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
            ]
        ),
        .testTarget(
            name: "AsyncCurlWebSocketTests",
            dependencies: ["AsyncCurlWebSocket", "AsyncCurl", "LoopbackServer", "TestPeers"]
        ),
        // Runs the example executables against real daemons (redis-server, nginx, tinyproxy, aiosmtpd,
        // Python websockets). Depending on the executables makes SwiftPM build them before the tests.
        .testTarget(
            name: "ExamplesTests",
            dependencies: ["curlcat", "redis-client", "http-get", "sendmail", "wscat", "fetch", "LoopbackServer", "TestPeers"]
        ),
    ],
    swiftLanguageModes: [.v6]
)
