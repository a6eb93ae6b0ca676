/// A SOCKS4 and SOCKS4a server on a free port of 127.0.0.1: a short Perl relay around
/// IO::Socket::Socks (Debian's libio-socket-socks-perl), which implements the protocol.
///
/// Why not danted: danted 1.4.2 does not implement SOCKS4a (see `DantePeer`), microsocks speaks
/// only SOCKS5, and the other packaged SOCKS servers either lack SOCKS4a or need far more set-up
/// (OpenSSH's `ssh -D` needs sshd running as root with /run/sshd).
///
/// The server chooses its port and prints it, and logs `CONNECT host:port` for every request, so
/// a test can see that the host name, not an address, reached the proxy.
final class Socks4aPeer: Sendable {
    let port: Int
    let daemon: Daemon
    private let directory: TemporaryDirectory

    /// `127.0.0.1:<port>`, to put after `socks4://` or `socks4a://`.
    var address: String { "127.0.0.1:\(port)" }

    init() async throws {
        let perl = try PeerProgram.perlSocks.executable()
        let directory = try TemporaryDirectory("socks4a")
        let script = try directory.write("socks4a.pl", Self.script)
        daemon = try Daemon(name: "socks4a (perl)", executable: perl, arguments: [script], logPath: directory.file("socks4a.log"))
        let printed = try await daemon.waitForLine(startingWith: "PORT ")
        guard let port = Int(printed) else {
            throw PeerError.notReady("socks4a printed a bad port '\(printed)'", log: daemon.logTail())
        }
        self.port = port
        self.directory = directory
    }

    /// The `host:port` of every request so far.
    var requests: [String] {
        daemon.logTail(maxCharacters: 1 << 20).split(separator: "\n")
            .filter { $0.hasPrefix("CONNECT ") }
            .map { String($0.dropFirst("CONNECT ".count)) }
    }

    deinit {
        daemon.stop()
    }

    /// Accepts, lets IO::Socket::Socks read the request (with `SocksResolve`, a SOCKS4a host name
    /// comes through as the name), connects, replies, then relays bytes both ways in a child
    /// process until either side closes.
    private static let script = #"""
use strict;
use warnings;
use IO::Socket::INET;
use IO::Select;
use IO::Socket::Socks qw(:constants $SOCKS_ERROR);

$| = 1;
my $server = IO::Socket::Socks->new(
    SocksVersion => 4, SocksResolve => 1, Listen => 16,
    LocalAddr => '127.0.0.1', LocalPort => 0, ReuseAddr => 1,
) or die "cannot listen: $SOCKS_ERROR\n";
$SIG{CHLD} = 'IGNORE';
print "PORT ", $server->sockport, "\n";

while (1) {
    my $client = $server->accept() or next;
    my $pid = fork();
    next unless defined $pid;
    if ($pid) { close $client; next; }
    close $server;
    my ($command, $host, $port) = @{ $client->command() };
    print STDERR "CONNECT $host:$port\n";
    my $remote = IO::Socket::INET->new(PeerAddr => $host, PeerPort => $port, Proto => 'tcp');
    unless ($command == CMD_CONNECT && $remote) {
        $client->command_reply(REQUEST_FAILED, '0.0.0.0', 0);
        exit 0;
    }
    $client->command_reply(REQUEST_GRANTED, $remote->sockhost, $remote->sockport);
    my $select = IO::Select->new($client, $remote);
    RELAY: while (1) {
        for my $from ($select->can_read) {
            my $to = $from == $client ? $remote : $client;
            my $read = sysread($from, my $buffer, 65536);
            last RELAY unless $read;
            my $offset = 0;
            while ($offset < $read) {
                my $written = syswrite($to, $buffer, $read - $offset, $offset);
                last RELAY unless $written;
                $offset += $written;
            }
        }
    }
    exit 0;
}
"""#
}
