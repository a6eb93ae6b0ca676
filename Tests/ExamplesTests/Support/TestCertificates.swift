/// Makes a throwaway test CA (`ca.pem`, `ca.key`) and a server certificate for localhost and
/// 127.0.0.1 (`server.pem`, `server.key`) in `directory`, with the openssl command-line tool.
func makeTestCertificates(_ openssl: String, in directory: TemporaryDirectory) throws {
    let d = directory.path
    let ecKey = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    try runToCompletion(openssl, ["req", "-x509"] + ecKey + [
        "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=AsyncCurl examples test CA",
        "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
    ], in: d)
    try runToCompletion(openssl, ["req"] + ecKey + [
        "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=localhost",
    ], in: d)
    try directory.write("server.ext", """
        subjectAltName = DNS:localhost, IP:127.0.0.1
        basicConstraints = critical, CA:FALSE
        keyUsage = critical, digitalSignature
        extendedKeyUsage = serverAuth

        """)
    try runToCompletion(openssl, [
        "x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
        "-out", "server.pem", "-days", "2", "-extfile", "server.ext",
    ], in: d)
}
