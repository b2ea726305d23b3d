// Package runtime owns occ's use of containerd: the client connection and
// its namespace, image unpack and import helpers, the sandbox container's
// spec, volumes, CNI networking, logs, tasks, exec, readiness and health.
//
// It uses only containerd's classic client APIs (no Transfer service), so it
// works against containerd 1.6, 1.7 and 2.x.
//
// The sandbox (Sandbox, made by NewSandbox from SpecOptions) keeps no state
// in memory that a later occ process would need: everything lives in
// containerd as labels on the container record (meta.LabelContainer*) or on
// disk under the data dir, so `occ stop` in one process undoes what
// `occ start` did in another.
//
//   - Volumes: upstream's seven named volumes are host directories under
//     Paths.VolumesDir(), bind-mounted at the same paths; a configured mount
//     on the same target replaces the volume. Mounts are validated before
//     anything is created; removing or recreating never touches volume data.
//   - Networking (network_mode cni): each start creates a network namespace
//     (containerd's pkg/netns) under RunDir/netns and runs CNI ADD through
//     go-cni with occ's own conflist (bridge + host-local IPAM under the data
//     dir + portmap with hostIP=bind_address + firewall). The conflist, the
//     port mappings, the namespace path and the container's address are
//     stored in labels; stop runs CNI DEL with exactly those and removes the
//     namespace. A namespace that vanished (reboot) is handled on the next
//     start: DEL without it, plus the bridge plugin's masquerade rule.
//     network_mode host shares the host's namespace and tells the server to
//     listen on bind_address:port directly.
//   - Logs: the shim appends stdout and stderr to one file (a file:// log
//     URI); occ bounds it whenever it touches the container (see MaxLogSize).
//   - Restart: with containerd's restart monitor plugin present, a started
//     container carries restart labels (policy unless-stopped) so it comes
//     back after a crash or a reboot; stop marks it explicitly stopped.
//   - Volatile state (netns files, exec FIFOs, runc state) lives in RunDir,
//     never in /run/containerd.
//   - Isolation (isolation.go, on by default): containerd's default seccomp
//     profile, AppArmor's where the host has it, a user namespace (ids
//     0-65535 on host ids userns_base and up; the root file system through
//     idmapped overlay layers, or a chowned copy where the snapshotter
//     cannot; volumes owned in the range; a host user's configured mount
//     idmapped to opencoder), pids, memory and CPU limits, and a cgroup per
//     containerd instance. The user namespace needs runc >= 1.2, which occ
//     finds and names in the runtime options (or refuses to create).
package runtime
