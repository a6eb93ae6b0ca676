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
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ]
        ),
    ],
    swiftLanguageModes: [.v6]
)
