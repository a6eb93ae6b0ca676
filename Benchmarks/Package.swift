// swift-tools-version: 6.0
// Benchmarks for AsyncCurl against the alternatives, all in one run: `make bench` in the parent
// directory. A separate package so that the library itself never depends on SwiftNIO.
import PackageDescription

// SwiftPM names a path dependency after its directory, so the library's package identity is the
// name of the directory this one sits in (a clone may not be called "main").
let parentPackage = String(Context.packageDirectory.split(separator: "/").dropLast().last ?? "main").lowercased()

let package = Package(
    name: "AsyncCurlBenchmarks",
    dependencies: [
        .package(path: ".."),
        .package(url: "https://github.com/apple/swift-nio", from: "2.81.0"),
        // The WebSocket scenario: Hummingbird's server (in the bench process) and client, and
        // Vapor's websocket-kit client.
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-websocket", from: "2.8.1"),
        .package(url: "https://github.com/hummingbird-project/swift-websocket", from: "1.6.2"),
        .package(url: "https://github.com/vapor/websocket-kit", from: "2.16.2"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        // The transfer scenarios: AsyncHTTPClient as the SwiftNIO HTTP client.
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.29.0"),
    ],
    targets: [
        // libcurl and OpenSSL for the C clients and the C server, found with pkg-config.
        .systemLibrary(
            name: "CBenchCurl",
            pkgConfig: "libcurl",
            providers: [.apt(["libcurl4-openssl-dev"])]
        ),
        .systemLibrary(
            name: "CBenchSSL",
            pkgConfig: "openssl",
            providers: [.apt(["libssl-dev"])]
        ),
        // The loopback server (blocking threads, plus one epoll thread for fan-out, plus an
        // OpenSSL server), the blocking POSIX/OpenSSL clients and the C libcurl clients.
        .target(
            name: "BenchC",
            dependencies: ["CBenchCurl", "CBenchSSL"]
        ),
        .executableTarget(
            name: "bench",
            dependencies: [
                "BenchC",
                .product(name: "AsyncCurl", package: parentPackage),
                .product(name: "AsyncCurlWebSocket", package: parentPackage),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdWebSocket", package: "hummingbird-websocket"),
                .product(name: "HummingbirdWSCompression", package: "hummingbird-websocket"),
                .product(name: "WSClient", package: "swift-websocket"),
                .product(name: "WebSocketKit", package: "websocket-kit"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOTLS", package: "swift-nio"),
            ]
        ),
    ],
    swiftLanguageModes: [.v6]
)
