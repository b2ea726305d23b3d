package main

import "github.com/opencode-cloud/occ/pkg/ops"

// MountCmd manages the configured bind mounts (the mounts key). There is
// no upstream -r/--resolved: that shows paths as Docker Desktop on macOS
// sees them, and occ runs on Linux only.
type MountCmd struct {
	Add    MountAddCmd    `cmd:"" help:"Add a bind mount /host:/container[:ro|rw] (replaces one with the same container path)."`
	Remove MountRemoveCmd `cmd:"" aliases:"rm" help:"Remove every bind mount with this host path."`
	List   MountListCmd   `cmd:"" aliases:"ls" help:"List the configured bind mounts."`
	Clean  MountCleanCmd  `cmd:"" help:"Empty the mounts' host directories (--purge: remove them and their mounts)."`
}

// mountsNote says whether the container has the configured mounts.
func mountsNote(app *App, a ops.MountsApplied) {
	switch a {
	case ops.MountsInForce:
		app.UI.Infof("The container already has these mounts.")
	case ops.MountsNoContainer:
		app.UI.Infof("There is no container yet: the mounts apply at the next `occ start`.")
	case ops.MountsDiffer:
		app.UI.Infof("Note: the container has other mounts than the config. Run `occ restart` to apply mount changes.")
	default:
		app.UI.Infof("Note: Run `occ restart` to apply mount changes.")
	}
}
