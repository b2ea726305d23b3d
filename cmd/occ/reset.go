package main

import (
	"fmt"
	"io"

	"github.com/opencode-cloud/occ/pkg/ops"
)

// ResetCmd removes what occ made, on this host only.
type ResetCmd struct {
	Container ResetContainerCmd `cmd:"" help:"Remove the sandbox container and, as asked, the volumes, images and mount directories."`
	Host      ResetHostCmd      `cmd:"" help:"Factory reset: container, volumes, mount directories, service, config and data (and --images)."`
}

// renderReset prints what a reset removed, what remains, and occ's disk
// use before and after.
func renderReset(w io.Writer, r *ops.ResetResult) {
	if len(r.Removed) == 0 {
		fmt.Fprintln(w, "Nothing to remove.")
	}
	for _, x := range r.Removed {
		fmt.Fprintf(w, "Removed: %s\n", x)
	}
	for _, x := range r.Remaining {
		fmt.Fprintf(w, "Still there: %s\n", x)
	}
	fmt.Fprintf(w, "\n%-13s %12s %12s\n", "Disk usage", "before", "after")
	row := func(label string, b, a int64) {
		fmt.Fprintf(w, "  %-11s %12s %12s\n", label, formatBytes(b), formatBytes(a))
	}
	row("Images", r.Before.ImagesBytes, r.After.ImagesBytes)
	row("Snapshots", r.Before.SnapshotsBytes, r.After.SnapshotsBytes)
	row("Volumes", r.Before.VolumesBytes, r.After.VolumesBytes)
	row("Logs", r.Before.LogsBytes, r.After.LogsBytes)
	row("Total", r.Before.TotalBytes, r.After.TotalBytes)
	if r.Before.Host != nil && r.After.Host != nil {
		fmt.Fprintf(w, "Host disk (%s):\n", r.After.Host.Path)
		row("Total", r.Before.Host.TotalBytes, r.After.Host.TotalBytes)
		row("Available", r.Before.Host.AvailableBytes, r.After.Host.AvailableBytes)
		row("Used", r.Before.Host.UsedBytes, r.After.Host.UsedBytes)
	}
	if r.Reclaimed > 0 {
		fmt.Fprintf(w, "Reclaimed: %s\n", formatBytes(r.Reclaimed))
	}
}
