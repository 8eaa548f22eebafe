package redistest

import (
	"crypto/tls"
	"testing"

	"github.com/redis/go-redis/v9"
)

// Security is how the servers of a test topology are protected. The zero
// value protects nothing.
type Security struct {
	// Password is the default user's password (requirepass). Replicas,
	// sentinels and the helpers of this package authenticate with it.
	Password string
	// Username and UserPassword add an ACL user that may run every
	// command except the @dangerous ones, on every key: the account an
	// operator would give otpgate.
	Username, UserPassword string
	// SentinelPassword is the sentinels' own password (requirepass).
	SentinelPassword string
	// CA, when set, gives every server a TLS port (Server.TLSAddr) beside
	// its plain one, with a certificate from the CA for 127.0.0.1.
	// Replication, the cluster bus and the sentinels' links use TLS, so
	// a sentinel and a Cluster node announce TLS ports to TLS clients.
	CA *CA
}

// StartSecureServer is StartServer with the protection of sec.
func StartSecureServer(t testing.TB, sec Security, args ...string) *Server {
	t.Helper()
	return startWithConfig(t, "", sec.tlsArgs(t), append(sec.serverArgs(), args...)...)
}

// TLSConfig is what a client needs to reach the TLS ports: nil without a CA.
func (sec Security) TLSConfig() *tls.Config {
	if sec.CA == nil {
		return nil
	}
	return sec.CA.ClientConfig()
}

// serverArgs are the arguments of a data server (not a sentinel).
func (sec Security) serverArgs() []string {
	var args []string
	if sec.Password != "" {
		args = append(args, "--requirepass", sec.Password, "--masterauth", sec.Password)
	}
	if sec.Username != "" {
		args = append(args, "--user", sec.Username, "on", ">"+sec.UserPassword, "~*", "+@all", "-@dangerous")
	}
	return args
}

// tlsArgs configures a server's TLS port with a certificate of its own, or
// is nil without a CA. Clients need no certificate.
func (sec Security) tlsArgs(t testing.TB) []string {
	t.Helper()
	if sec.CA == nil {
		return nil
	}
	cert, key := sec.CA.Issue(t)
	return []string{
		"--tls-cert-file", cert, "--tls-key-file", key, "--tls-ca-cert-file", sec.CA.CertFile,
		"--tls-auth-clients", "no", "--tls-replication", "yes",
	}
}

// options reach a server's plain port as the default user.
func (sec Security) options(addr string) *redis.Options {
	return &redis.Options{Addr: addr, Password: sec.Password}
}
