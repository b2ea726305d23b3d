package runtime

import (
	"net/netip"
	"strconv"
	"strings"

	"github.com/opencode-cloud/occ/pkg/meta"
)

// The sandbox image's entrypoint reads these (pkg/build/sandbox/README.md):
// the gateway's login limits and trusted proxies from the config, and which
// container paths are the user's host directories, which it must leave as
// they are (no chown, no chmod, no directories created in them).
const (
	EnvLoginAttempts  = "OPENCODE_CLOUD_LOGIN_ATTEMPTS"
	EnvLoginWindow    = "OPENCODE_CLOUD_LOGIN_WINDOW"
	EnvTrustedProxies = "OPENCODE_CLOUD_TRUSTED_PROXIES"
	EnvHostMounts     = "OPENCODE_CLOUD_HOST_MOUNTS"
)

// gatewayEnv is the environment that applies the config's gateway settings
// (rate_limit_attempts, rate_limit_window_seconds, trust_proxy) and names
// the configured mounts' container paths (':'-separated: ParseMount allows
// no ':' in a path).
func (s *Sandbox) gatewayEnv(plan MountPlan) []string {
	cfg := s.opts.Config
	var env []string
	if cfg.RateLimitAttempts > 0 {
		env = append(env, EnvLoginAttempts+"="+strconv.Itoa(cfg.RateLimitAttempts))
	}
	if cfg.RateLimitWindowSeconds > 0 {
		env = append(env, EnvLoginWindow+"="+strconv.Itoa(cfg.RateLimitWindowSeconds))
	}
	// Empty: X-Forwarded-For is ignored, the client is the connection's peer.
	env = append(env, EnvTrustedProxies+"="+strings.Join(s.trustedProxies(), " "))
	targets := make([]string, len(plan.Binds))
	for i, m := range plan.Binds {
		targets[i] = m.Target
	}
	return append(env, EnvHostMounts+"="+strings.Join(targets, ":"))
}

// trustedProxies are the peers whose X-Forwarded-For the gateway believes
// with trust_proxy on: a reverse proxy on this host. With host networking
// it connects from loopback; with occ's CNI network its connections to the
// published port arrive from the bridge's gateway address (the host side
// of the bridge, masqueraded). Nothing else is trusted: a client that can
// reach the port directly cannot choose its address.
func (s *Sandbox) trustedProxies() []string {
	if !s.opts.Config.TrustProxy {
		return nil
	}
	out := []string{"127.0.0.1/32", "::1/128"}
	if s.networkMode() == meta.NetworkHost {
		return out
	}
	if p, err := netip.ParsePrefix(s.opts.Network.Subnet); err == nil && p.Addr().Is4() {
		gw := p.Masked().Addr().Next()
		out = append(out, netip.PrefixFrom(gw, 32).String())
	}
	return out
}
