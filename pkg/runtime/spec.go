package runtime

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/containerd/v2/pkg/oci"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/opencode-cloud/occ/pkg/meta"
)

// WorkingDir is the sandbox's working directory (upstream's WORKDIR).
const WorkingDir = "/home/opencoder/workspace"

// xdgDefaults are added when neither the image nor container_env sets them.
var xdgDefaults = []string{
	"XDG_DATA_HOME=/home/opencoder/.local/share",
	"XDG_STATE_HOME=/home/opencoder/.local/state",
	"XDG_CONFIG_HOME=/home/opencoder/.config",
	"XDG_CACHE_HOME=/home/opencoder/.cache",
}

// mergeEnv merges KEY=value lists; a later list overrides an earlier one
// key by key, keeping the first position of each key.
func mergeEnv(lists ...[]string) []string {
	var out []string
	idx := map[string]int{}
	for _, l := range lists {
		for _, kv := range l {
			k, _, _ := strings.Cut(kv, "=")
			if k == "" {
				continue
			}
			if i, ok := idx[k]; ok {
				out[i] = kv
				continue
			}
			idx[k] = len(out)
			out = append(out, kv)
		}
	}
	return out
}

// addMissing returns the defaults whose key none of the lists sets.
func addMissing(defaults []string, lists ...[]string) []string {
	set := map[string]bool{}
	for _, l := range lists {
		for _, kv := range l {
			k, _, _ := strings.Cut(kv, "=")
			set[k] = true
		}
	}
	var out []string
	for _, kv := range defaults {
		k, _, _ := strings.Cut(kv, "=")
		if !set[k] {
			out = append(out, kv)
		}
	}
	return out
}

// occEnv is the env occ itself imposes last: where opencode must listen.
func (s *Sandbox) occEnv() []string {
	if s.networkMode() == meta.NetworkHost {
		// No namespace of its own: the server listens on the host directly.
		return []string{"OPENCODE_PORT=" + strconv.Itoa(s.port()), "OPENCODE_HOST=" + s.bindAddress()}
	}
	return []string{"OPENCODE_PORT=" + strconv.Itoa(ContainerPort), "OPENCODE_HOST=0.0.0.0"}
}

// withEnvOrder sets the process env to image env, then XDG defaults not
// already set, then container_env, then occ's own (where to listen, the
// gateway's settings and the host mounts). It must run after
// oci.WithImageConfig (which put the image env in place).
func (s *Sandbox) withEnvOrder(plan MountPlan) oci.SpecOpts {
	return func(_ context.Context, _ oci.Client, _ *containers.Container, sp *oci.Spec) error {
		sp.Process.Env = s.processEnv(sp.Process.Env, plan)
		return nil
	}
}

// processEnv is the container's env given the image's. container_env
// entries that could change what root runs (PATH, LD_PRELOAD, BASH_ENV,
// …: meta.UnsafeEnvKey) never reach it, even from a config that skipped
// validation; the image's own values stay.
func (s *Sandbox) processEnv(imageEnv []string, plan MountPlan) []string {
	user := meta.SafeEnv(s.opts.Config.ContainerEnv)
	return mergeEnv(imageEnv, addMissing(xdgDefaults, imageEnv, user), user, s.occEnv(), s.gatewayEnv(plan), s.opts.ExtraEnv)
}

// containerFiles writes the hosts, hostname and resolv.conf the container
// sees in its own network namespace, under Paths.SandboxDir().
func (s *Sandbox) containerFiles() (hosts, resolv, hostname string, err error) {
	dir := s.opts.Paths.SandboxDir()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", "", "", fmt.Errorf("create %s: %w", dir, err)
	}
	hosts = filepath.Join(dir, "hosts")
	hostname = filepath.Join(dir, "hostname")
	resolv = filepath.Join(dir, "resolv.conf")
	h := fmt.Sprintf("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n127.0.1.1\t%s\n", s.name)
	if err := meta.WriteFileAtomic(hosts, []byte(h), 0o644); err != nil {
		return "", "", "", err
	}
	if err := meta.WriteFileAtomic(hostname, []byte(s.name+"\n"), 0o644); err != nil {
		return "", "", "", err
	}
	if err := meta.WriteFileAtomic(resolv, containerResolvConf(), 0o644); err != nil {
		return "", "", "", err
	}
	return hosts, resolv, hostname, nil
}

// containerResolvConf is the host's resolv.conf without loopback name
// servers (unreachable from the container's namespace). With systemd-resolved
// the upstream servers come from /run/systemd/resolve/resolv.conf. When no
// usable server is left, public resolvers are used, as Docker does.
func containerResolvConf() []byte {
	for _, p := range []string{"/etc/resolv.conf", "/run/systemd/resolve/resolv.conf"} {
		data, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		out, ok := filterResolvConf(data)
		if ok {
			return out
		}
	}
	return []byte("nameserver 8.8.8.8\nnameserver 8.8.4.4\n")
}

func filterResolvConf(data []byte) ([]byte, bool) {
	var b bytes.Buffer
	servers := 0
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := sc.Text()
		f := strings.Fields(line)
		if len(f) >= 2 && f[0] == "nameserver" {
			if ip := net.ParseIP(f[1]); ip != nil && ip.IsLoopback() {
				continue
			}
			servers++
		}
		b.WriteString(line + "\n")
	}
	return b.Bytes(), servers > 0
}

// SandboxCapabilities is the container's whole capability set (bounding,
// effective and permitted; none inheritable or ambient). Only the
// sandbox's root processes use them: the entrypoint and the users tool
// create accounts, hand directories to their owners and start opencode as
// opencoder (CHOWN, DAC_OVERRIDE, FOWNER, SETUID, SETGID); nginx's master
// drops to www-data (SETUID, SETGID); tini and the entrypoint signal the
// other users' processes (KILL). Docker's other defaults (MKNOD, NET_RAW,
// NET_BIND_SERVICE: the gateway's port is at least 1024, SETFCAP, SETPCAP,
// FSETID, SYS_CHROOT, AUDIT_WRITE) are not needed. Everything a login
// runs, runs as opencoder with no capabilities and no_new_privs.
var SandboxCapabilities = []string{
	"CAP_CHOWN",
	"CAP_DAC_OVERRIDE",
	"CAP_FOWNER",
	"CAP_KILL",
	"CAP_SETGID",
	"CAP_SETUID",
}

// specOpts builds the OCI spec options for the container: its own pid,
// ipc, uts, mount and (in cni mode) network namespaces, the capabilities
// above and no_new_privs (nothing in the sandbox gains privileges through
// a setuid binary: www-data reads /etc/shadow through its group).
//
// The isolation (isolation.go) comes after the capabilities: containerd's
// default seccomp profile, AppArmor where the host has it, the user
// namespace and the pids, memory and CPU limits.
func (s *Sandbox) specOpts(image containerd.Image, plan MountPlan, iso Isolation) ([]oci.SpecOpts, error) {
	opts := []oci.SpecOpts{
		oci.WithDefaultSpec(),
		oci.WithDefaultUnixDevices,
		oci.WithImageConfig(image),
		s.withEnvOrder(plan),
		oci.WithHostname(s.name),
		oci.WithProcessCwd(WorkingDir),
		oci.WithCapabilities(SandboxCapabilities),
		oci.WithNoNewPrivileges,
		oci.WithMounts(plan.OCIMountsFor(iso)),
	}
	opts = append(opts, iso.specOpts()...)
	if rootlessNoCgroups() {
		// No path: rootless runc then skips the cgroups it may not create
		// (with a path it fails on them).
		opts = append(opts, oci.WithCgroup(""))
	} else {
		opts = append(opts, oci.WithCgroup(s.cgroupPath()))
	}
	if s.networkMode() == meta.NetworkHost {
		opts = append(opts, oci.WithHostNamespace(specs.NetworkNamespace), oci.WithHostHostsFile, oci.WithHostResolvconf)
	} else {
		hosts, resolv, hostname, err := s.containerFiles()
		if err != nil {
			return nil, err
		}
		opts = append(opts,
			// The path is filled in at each start; this placeholder only
			// makes the spec ask for a network namespace to join.
			oci.WithLinuxNamespace(specs.LinuxNamespace{Type: specs.NetworkNamespace}),
			oci.WithMounts([]specs.Mount{
				bindMount(hosts, "/etc/hosts", true),
				bindMount(resolv, "/etc/resolv.conf", true),
				bindMount(hostname, "/etc/hostname", true),
			}))
	}
	return opts, nil
}

// cgroupPath is containerd's default, /<namespace>/<name>, for the default
// containerd socket; another containerd (a testbed, a second instance)
// gets /<namespace>-<hash of its socket>/<name>, so that two of them never
// put their sandboxes in one cgroup: their limits would be shared, and runc
// >= 1.2 refuses to start in a cgroup that has processes.
func (s *Sandbox) cgroupPath() string {
	ns := s.client.Namespace
	if a := s.client.Address; a != "" && filepath.Clean(a) != meta.DefaultContainerdAddress {
		sum := sha256.Sum256([]byte(filepath.Clean(a)))
		ns += "-" + hex.EncodeToString(sum[:4])
	}
	return "/" + ns + "/" + s.name
}

// withNetNSPath points the spec's network namespace at path.
func withNetNSPath(path string) oci.SpecOpts {
	return oci.WithLinuxNamespace(specs.LinuxNamespace{Type: specs.NetworkNamespace, Path: path})
}

// labels are occ's metadata on the container record.
func (s *Sandbox) labels(image containerd.Image, plan MountPlan, iso Isolation) map[string]string {
	l := map[string]string{
		LabelContainerIsolation:        iso.label(),
		LabelContainerRootfs:           iso.rootfsLabel(),
		meta.ManagedByLabel:            meta.ManagedByValue,
		meta.LabelContainerPublished:   s.PublishedAddress(),
		meta.LabelContainerNetworkMode: s.networkMode(),
		meta.LabelContainerLogPath:     s.LogPath(),
		meta.LabelContainerMounts:      plan.BindsLabel(),
		meta.LabelContainerImage:       image.Name(),
		meta.LabelContainerImageDigest: image.Target().Digest.String(),
		meta.LabelContainerCreatedBy:   meta.Version,
	}
	for k, v := range s.opts.Paths.InstanceLabels() {
		l[k] = v
	}
	return l
}
