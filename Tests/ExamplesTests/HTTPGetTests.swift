import Foundation
import Testing

extension ExamplesTests {
    @Suite(.enabled(if: TestEnvironment.canTry("nginx") && TestEnvironment.canTry("openssl"),
                    "nginx or openssl is not installed (Debian packages nginx and openssl)"))
    struct HTTPGetTests {
        static let body = seededBytes(count: 1 << 20, seed: 0x5EED)

        @Test func getsOneMebibyteOverTLSVerifiedWithTheTestCA() throws {
            try withNginx { server in
                let saved = server.directory.file("saved.bin")
                let output = try runToCompletion(try TestEnvironment.example("http-get"), [
                    "--cacert", server.caFile, "-o", saved, "tls://127.0.0.1:\(server.port)/data.bin",
                ])
                #expect(output.hasPrefix("HTTP/1.1 200 OK\n"), "\(output)")
                #expect(output.contains("\nbody: 1048576 bytes (Content-Length: 1048576)\n"), "\(output)")
                let difference = firstDifference(Array(try Data(contentsOf: URL(fileURLWithPath: saved))), Self.body)
                #expect(difference == nil, "\(difference ?? "")")
            }
        }

        @Test func decodesAChunkedBody() throws {
            try withNginx { server in
                let saved = server.directory.file("saved.bin")
                // The certificate names localhost too.
                let output = try runToCompletion(try TestEnvironment.example("http-get"), [
                    "--cacert", server.caFile, "--output", saved, "tls://localhost:\(server.port)/chunked.bin",
                ])
                #expect(output.hasPrefix("HTTP/1.1 200 OK\n"), "\(output)")
                #expect(output.contains("\nbody: 1048576 bytes (Transfer-Encoding: chunked)\n"), "\(output)")
                let difference = firstDifference(Array(try Data(contentsOf: URL(fileURLWithPath: saved))), Self.body)
                #expect(difference == nil, "\(difference ?? "")")
            }
        }

        @Test func insecureSkipsVerification() throws {
            try withNginx { server in
                let output = try runToCompletion(try TestEnvironment.example("http-get"), [
                    "--insecure", "tls://127.0.0.1:\(server.port)/data.bin",
                ])
                #expect(output.hasPrefix("HTTP/1.1 200 OK\n"), "\(output)")
                #expect(output.contains("\nbody: 1048576 bytes"), "\(output)")
            }
        }

        @Test func anUnknownCAFailsVerification() throws {
            try withNginx { server in
                let client = try ChildProcess(try TestEnvironment.example("http-get"), ["tls://127.0.0.1:\(server.port)/data.bin"])
                defer { client.stop() }
                let status = try client.waitForExit(timeout: .seconds(30))
                #expect(status == 1)
                #expect(client.standardErrorText.contains("peerFailedVerification"), "stderr: \(client.standardErrorText)")
                #expect(client.standardOutputText.isEmpty)
            }
        }

        @Test func aMissingFileIsA404() throws {
            try withNginx { server in
                let output = try runToCompletion(try TestEnvironment.example("http-get"), [
                    "--cacert", server.caFile, "tls://127.0.0.1:\(server.port)/missing",
                ])
                #expect(output.hasPrefix("HTTP/1.1 404 Not Found\n"), "\(output)")
            }
        }

        // MARK: The server

        struct Server {
            let directory: TemporaryDirectory
            let port: Int
            let caFile: String
        }

        /// Makes a test CA and a server certificate for localhost and 127.0.0.1 with the openssl
        /// CLI, starts nginx serving ``body`` over HTTPS on 127.0.0.1, runs `body`, and stops
        /// nginx whatever happens.
        ///
        /// nginx runs as a single process (`master_process off`) in the foreground, with every
        /// path inside the temporary directory: stopping that one process leaves nothing behind.
        private func withNginx(_ body: (Server) throws -> Void) throws {
            let nginx = try TestEnvironment.daemon("nginx", package: "nginx")
            let openssl = try TestEnvironment.daemon("openssl", package: "openssl")
            let directory = try TemporaryDirectory("asynccurl-nginx")
            defer { directory.remove() }

            try makeTestCertificates(openssl, in: directory)
            try FileManager.default.createDirectory(atPath: directory.file("www"), withIntermediateDirectories: false)
            try directory.write("www/data.bin", Self.body)

            let (server, port) = try startDaemon { port in
                let d = directory.path
                try directory.write("nginx.conf", """
                    master_process off;
                    worker_processes 1;
                    pid \(d)/nginx.pid;
                    error_log \(d)/error.log info;
                    events { worker_connections 64; }
                    http {
                        access_log \(d)/access.log;
                        client_body_temp_path \(d)/client_body;
                        proxy_temp_path \(d)/proxy;
                        fastcgi_temp_path \(d)/fastcgi;
                        uwsgi_temp_path \(d)/uwsgi;
                        scgi_temp_path \(d)/scgi;
                        default_type application/octet-stream;
                        server {
                            listen 127.0.0.1:\(port) ssl;
                            ssl_certificate \(d)/server.pem;
                            ssl_certificate_key \(d)/server.key;
                            root \(d)/www;
                            # The same file without a Content-Length: SSI makes nginx send it chunked.
                            location = /chunked.bin {
                                ssi on;
                                ssi_types *;
                                alias \(d)/www/data.bin;
                            }
                        }
                    }

                    """)
                return try ChildProcess(nginx, ["-p", d, "-c", directory.file("nginx.conf"),
                                                "-e", directory.file("error.log"), "-g", "daemon off;"])
            }
            defer { server.stop() }
            try body(Server(directory: directory, port: port, caFile: directory.file("ca.pem")))
        }
    }
}
