package ops

import (
	"fmt"

	"github.com/containerd/errdefs"

	"github.com/opencode-cloud/occ/pkg/meta"
)

// ErrNoUsers is why a start or restart is refused without login users.
var ErrNoUsers = errdefs.ErrFailedPrecondition.WithMessage("Security not configured: no users are configured for authentication, and the service cannot start without one.\n" +
	"  Add a user (this works before the first start: occ records it and the sandbox creates it when it starts):\n" +
	"    occ user add <username>\n" +
	"  or run the setup wizard: occ setup\n" +
	"  (To run without authentication on purpose: occ config set allow_unauthenticated_network true)")

// CheckUsers refuses to start the service when nobody could log in to it,
// unless allow_unauthenticated_network says that is meant.
func CheckUsers(cfg *meta.Config) error {
	if len(cfg.Users) == 0 && !cfg.AllowUnauthenticatedNetwork {
		return ErrNoUsers
	}
	return nil
}

// WarnExposure warns loudly when the service is published beyond this host
// (bind_address 0.0.0.0, :: or any non-loopback address).
func WarnExposure(r Reporter, cfg *meta.Config) {
	if !meta.IsExposed(cfg.BindAddress) {
		return
	}
	r.Warnf("WARNING: Network exposure enabled! The web UI answers on %s for anyone who can reach this host (bind_address %s). "+
		"Only the users occ manages can log in; put a TLS reverse proxy in front of it, or bind to 127.0.0.1 (occ config set bind_address 127.0.0.1).",
		fmt.Sprintf("%s:%d", cfg.BindAddress, cfg.OpencodeWebPort), cfg.BindAddress)
	if len(cfg.Users) == 0 {
		r.Warnf("WARNING: Network exposed with no login users: every page but the health check answers 401 until you add one (occ user add <username>).")
	}
}
