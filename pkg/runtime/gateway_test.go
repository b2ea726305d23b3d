package runtime

import (
	"reflect"
	"testing"

	"github.com/opencode-cloud/occ/pkg/meta"
)

func TestGatewayEnv(t *testing.T) {
	tests := []struct {
		name  string
		edit  func(c *meta.Config)
		binds []meta.Mount
		want  []string
	}{
		{name: "defaults", want: []string{"OPENCODE_CLOUD_LOGIN_ATTEMPTS=5", "OPENCODE_CLOUD_LOGIN_WINDOW=60",
			"OPENCODE_CLOUD_TRUSTED_PROXIES=", "OPENCODE_CLOUD_HOST_MOUNTS="}},
		{name: "configured limits and mounts",
			edit:  func(c *meta.Config) { c.RateLimitAttempts, c.RateLimitWindowSeconds = 12, 300 },
			binds: []meta.Mount{{Source: "/home/me/proj", Target: "/home/opencoder/workspace"}, {Source: "/srv/a b", Target: "/data/a b", ReadOnly: true}},
			want: []string{"OPENCODE_CLOUD_LOGIN_ATTEMPTS=12", "OPENCODE_CLOUD_LOGIN_WINDOW=300",
				"OPENCODE_CLOUD_TRUSTED_PROXIES=", "OPENCODE_CLOUD_HOST_MOUNTS=/home/opencoder/workspace:/data/a b"}},
		{name: "trust_proxy on the CNI network: loopback and the bridge's gateway",
			edit: func(c *meta.Config) { c.TrustProxy = true },
			want: []string{"OPENCODE_CLOUD_LOGIN_ATTEMPTS=5", "OPENCODE_CLOUD_LOGIN_WINDOW=60",
				"OPENCODE_CLOUD_TRUSTED_PROXIES=127.0.0.1/32 ::1/128 10.213.77.1/32", "OPENCODE_CLOUD_HOST_MOUNTS="}},
		{name: "trust_proxy with host networking: loopback only",
			edit: func(c *meta.Config) { c.TrustProxy, c.NetworkMode = true, meta.NetworkHost },
			want: []string{"OPENCODE_CLOUD_LOGIN_ATTEMPTS=5", "OPENCODE_CLOUD_LOGIN_WINDOW=60",
				"OPENCODE_CLOUD_TRUSTED_PROXIES=127.0.0.1/32 ::1/128", "OPENCODE_CLOUD_HOST_MOUNTS="}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := meta.DefaultConfig()
			if tt.edit != nil {
				tt.edit(cfg)
			}
			s := &Sandbox{opts: SpecOptions{Config: cfg, Network: NetworkOptions{Subnet: DefaultSubnet}}}
			if got := s.gatewayEnv(MountPlan{Binds: tt.binds}); !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("gatewayEnv\n got %q\nwant %q", got, tt.want)
			}
		})
	}
}
