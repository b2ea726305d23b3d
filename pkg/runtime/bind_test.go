package runtime

import (
	"slices"
	"testing"

	"github.com/opencode-cloud/occ/pkg/meta"
)

// TestBindAddressCanonical: "localhost" and bracketed IPv6 passed
// validation but reached portmap, net.JoinHostPort and OPENCODE_HOST as
// written ("[[::1]]:3000", HostIP "localhost"), which broke at run time.
// The runtime uses the bare IP.
func TestBindAddressCanonical(t *testing.T) {
	for _, tc := range []struct{ bind, ip, published string }{
		{"localhost", "127.0.0.1", "127.0.0.1:3000"},
		{"LOCALHOST", "127.0.0.1", "127.0.0.1:3000"},
		{"[::1]", "::1", "[::1]:3000"},
		{"[::]", "::", "[::]:3000"},
		{"::ffff:127.0.0.1", "127.0.0.1", "127.0.0.1:3000"},
		{" 0.0.0.0 ", "0.0.0.0", "0.0.0.0:3000"},
		{"", "127.0.0.1", "127.0.0.1:3000"},
	} {
		cfg := meta.DefaultConfig()
		cfg.BindAddress, cfg.NetworkMode = tc.bind, meta.NetworkHost
		s := &Sandbox{opts: SpecOptions{Config: cfg}}
		if got := s.bindAddress(); got != tc.ip {
			t.Errorf("%q: bindAddress %q, want %q", tc.bind, got, tc.ip)
		}
		if got := s.PublishedAddress(); got != tc.published {
			t.Errorf("%q: PublishedAddress %q, want %q", tc.bind, got, tc.published)
		}
		if env := s.occEnv(); !slices.Contains(env, "OPENCODE_HOST="+tc.ip) {
			t.Errorf("%q: env %q", tc.bind, env)
		}
	}
}
