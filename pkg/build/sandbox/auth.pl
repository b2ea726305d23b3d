#!/usr/bin/perl
# opencode-cloud-auth SOCKET: the gateway's password check, an HTTP/1.1 server on a unix socket.
#
# nginx (nginx.conf.template) sends it each credential check its login cache cannot answer, after
# its rate limits: "GET /check" with the client's "Authorization: Basic ..." header. It answers 200
# when the name is a login user (primary group opencode-users, not locked) and the password matches
# the account's crypt(3) hash in /etc/shadow, else 401.
#
# Every refusal costs one hash computation, like a wrong password for a real user: an unknown name,
# a system account, a locked account or a malformed hash is checked against a decoy sha512-crypt hash
# at occ's cost (50000 rounds, as occ writes them), so the answer's timing does not tell which names
# exist. Each check runs in a child process of its own, at most 8 at once (PAM inside nginx blocked
# a worker, and with it every connection it served). It runs as www-data, a member of group shadow, and starts with a
# clean environment.
use strict;
use warnings;
use IO::Socket::UNIX;
use MIME::Base64 qw(decode_base64);
use POSIX ();

my $socket = shift or die "usage: opencode-cloud-auth SOCKET\n";
my $group = 'opencode-users';
my $name_re = qr/^[a-z_][a-z0-9_-]{0,31}\z/;
my $decoy = '$6$rounds=50000$opencodecloud000$' . ('0' x 86);

# At most this many checks at once (each is one CPU-bound hash); more connections wait in the
# listen queue, so a flood of logins from many addresses cannot fork without bound.
my $max_checks = 8;

unlink $socket;
my $server = IO::Socket::UNIX->new(Type => SOCK_STREAM(), Local => $socket, Listen => 128)
	or die "opencode-cloud-auth: listen on $socket: $!\n";
chmod 0660, $socket or die "opencode-cloud-auth: chmod $socket: $!\n";
$SIG{TERM} = sub { unlink $socket; exit 0 };
$SIG{PIPE} = 'IGNORE';

my %checks;
sub reap {
	while ((my $pid = waitpid(-1, POSIX::WNOHANG())) > 0) {
		delete $checks{$pid};
	}
}
$SIG{CHLD} = \&reap;    # also while waiting in accept (which then returns, and is called again)
while (1) {
	reap();
	if (keys %checks >= $max_checks) {
		my $pid = wait;
		delete $checks{$pid} if $pid > 0;
		next;
	}
	my $conn = $server->accept or next;
	my $pid = fork;
	if (!defined $pid) {    # out of processes: nginx sees a failed check
		close $conn;
		next;
	}
	if ($pid) {
		$checks{$pid} = 1;
		close $conn;
		next;
	}
	close $server;
	alarm 30;
	serve($conn);
	POSIX::_exit(0);
}

sub serve {
	my ($conn) = @_;
	my ($credentials, $lines) = ('', 0);
	while (defined(my $line = <$conn>)) {
		last if $line =~ /^\r?\n\z/;
		return if ++$lines > 100 || length($line) > 16384;
		$credentials = $1 if $line =~ /^Authorization:[ \t]*Basic[ \t]+([A-Za-z0-9+\/=]+)[ \t]*\r?\n\z/i;
	}
	# No credentials: refused at once (there is no name whose existence the time could tell).
	my $ok = 0;
	if ($credentials ne '') {
		my ($user, $password) = split /:/, decode_base64($credentials), 2;
		$ok = check($user // '', $password // '');
	}
	my $status = $ok ? "200 OK\r\n" : "401 Unauthorized\r\nWWW-Authenticate: Basic realm=\"opencode-cloud\"\r\n";
	print $conn "HTTP/1.1 ${status}Content-Length: 0\r\nConnection: close\r\n\r\n";
	close $conn;
}

# check NAME PASSWORD: one crypt(3) call whatever the name.
sub check {
	my ($user, $password) = @_;
	my $gid = getgrnam($group);
	my @pw = $user =~ $name_re ? getpwnam($user) : ();
	my $hash = $pw[1] // '';
	my $usable = @pw && defined $gid && $pw[3] == $gid && $hash =~ /^\$[^:\s]+\z/ && length($password) <= 512;
	my $against = $usable ? $hash : $decoy;
	my $got = crypt($password, $against) // '';
	return $usable && $got eq $against;
}
