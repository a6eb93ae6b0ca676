# Python 2.7, in the autobahntestsuite virtualenv (see run-autobahn.sh and AUTOBAHN.md).
#
# Starts Autobahn|Testsuite's fuzzingserver (`wstest -m fuzzingserver -s SPEC --webport 0`) with
# every listening socket bound to 127.0.0.1. wstest itself binds the address in the spec's "url"
# only in the URL: autobahn 0.10's listenWS() listens on all interfaces (interface ''), and the
# embedded web UI (default port 8080) does too. Here the web UI is off (--webport 0) and the
# reactor's listenTCP/listenSSL get 127.0.0.1 whenever no interface is named.
#
# usage: python fuzzingserver.py SPEC.json
import sys

LOOPBACK = "127.0.0.1"


def main():
    if len(sys.argv) != 2:
        sys.stderr.write("usage: fuzzingserver.py SPEC.json\n")
        return 2
    spec = sys.argv[1]

    # wstest installs its reactor when imported; patch the installed one.
    from autobahntestsuite import wstest
    from twisted.internet import reactor

    listen_tcp = reactor.listenTCP
    listen_ssl = reactor.listenSSL

    def loopback_tcp(port, factory, backlog=50, interface=""):
        return listen_tcp(port, factory, backlog, interface or LOOPBACK)

    def loopback_ssl(port, factory, context_factory, backlog=50, interface=""):
        return listen_ssl(port, factory, context_factory, backlog, interface or LOOPBACK)

    reactor.listenTCP = loopback_tcp
    reactor.listenSSL = loopback_ssl

    sys.argv = ["wstest", "--mode", "fuzzingserver", "--spec", spec, "--webport", "0"]
    wstest.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
