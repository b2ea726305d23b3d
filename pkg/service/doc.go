// Package service registers occ with the host's service manager so the
// sandbox starts on login or boot: a systemd unit, user-level
// (~/.config/systemd/user) or system-level (/etc/systemd/system) per the
// config's boot_mode, running `occ start --no-daemon` (which supervises the
// container for its whole life) and `occ stop`, ordered after
// containerd.service, with the restart settings from the config.
//
// Render produces the unit text; Installer writes and removes the file and
// drives systemctl. Rendering and file handling work on any machine;
// the systemctl step fails with ErrNoSystemd (a clear message saying what to
// run once systemd is there) when systemd is not running.
package service
