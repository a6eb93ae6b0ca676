// swift-tools-version: 6.0
import PackageDescription

let package = Package(
    name: "AsyncCurl",
    products: [
        .library(name: "AsyncCurl", targets: ["AsyncCurl"]),
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
            dependencies: ["CCurl", "CEpoll"]
        ),
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
        .testTarget(
            name: "AsyncCurlTests",
            dependencies: ["AsyncCurl", "CCurl", "LoopbackServer"]
        ),
    ],
    swiftLanguageModes: [.v6]
)
