package ops

import (
	"fmt"
	"strings"

	"github.com/containerd/errdefs"

	"github.com/opencode-cloud/occ/pkg/meta"
	"github.com/opencode-cloud/occ/pkg/runtime"
)

// ErrNoUsers is why a start or restart is refused without login users.
var ErrNoUsers = errdefs.ErrFailedPrecondition.WithMessage("Security not configured: no users are configured for authentication, and the service cannot start without one.\n" +
	"  Add a user (this works before the first start: occ records it and the sandbox creates it when it starts):\n" +
	"    occ user add <username>\n" +
	"  or run the setup wizard: occ setup\n" +
	"  (To run without authentication on purpose: occ config set allow_unauthenticated_network true)")

// CheckUsers refuses to start the service when nobody could log in to it,
// unless allow_unauthenticated_network says that is meant. Who can log in
// is what the sandbox applies: the enabled user records in the users
// volume (or the mount that replaces it), not the config's users list
// (after `occ config reset --force` the records remain and still log in;
// a list whose users are all disabled lets nobody in).
func CheckUsers(cfg *meta.Config, paths meta.Paths) error {
	if cfg.AllowUnauthenticatedNetwork {
		return nil
	}
	enabled, disabled, dir, listErr := loginUsers(cfg, paths)
	switch {
	case enabled > 0:
		return nil
	case len(disabled) > 0:
		return errdefs.ErrFailedPrecondition.WithMessage(fmt.Sprintf("Security not configured: every user is disabled (%s), so nobody could log in, and the service cannot start that way.\n"+
			"  Enable one: occ user enable %s\n  or add one: occ user add <username>\n"+
			"  (To run without authentication on purpose: occ config set allow_unauthenticated_network true)",
			strings.Join(disabled, ", "), disabled[0]))
	case listErr != nil:
		return fmt.Errorf("%w\n  The user records in %s could not all be read: %w", ErrNoUsers, dir, listErr)
	}
	return ErrNoUsers
}

// checkUsers is CheckUsers for this Env's paths (OpenOptions.Check).
func (e *Env) checkUsers(cfg *meta.Config) error { return CheckUsers(cfg, e.Paths) }

// loginUsers counts the enabled user records and names the disabled ones;
// err reports records that could not be read (the rest are counted).
func loginUsers(cfg *meta.Config, paths meta.Paths) (enabled int, disabled []string, dir string, err error) {
	dir = UsersDir(cfg, paths)
	records, err := runtime.ListUserRecords(dir)
	for _, r := range records {
		if r.Locked {
			disabled = append(disabled, r.Username)
		} else {
			enabled++
		}
	}
	return enabled, disabled, dir, err
}

// WarnExposure warns loudly when the service is published beyond this host
// (bind_address 0.0.0.0, :: or any non-loopback address).
func WarnExposure(r Reporter, cfg *meta.Config, paths meta.Paths) {
	if !meta.IsExposed(cfg.BindAddress) {
		return
	}
	r.Warnf("WARNING: Network exposure enabled! The web UI answers on %s for anyone who can reach this host (bind_address %s). "+
		"Only the users occ manages can log in; put a TLS reverse proxy in front of it, or bind to 127.0.0.1 (occ config set bind_address 127.0.0.1).",
		fmt.Sprintf("%s:%d", cfg.BindAddress, cfg.OpencodeWebPort), cfg.BindAddress)
	if n, _, _, _ := loginUsers(cfg, paths); n == 0 {
		r.Warnf("WARNING: Network exposed with no login users: every page but the health check answers 401 until you add one (occ user add <username>).")
	}
}
