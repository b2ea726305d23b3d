package runtime

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"syscall"

	"github.com/containerd/containerd/v2/pkg/netns"
	"github.com/containerd/errdefs"
	gocni "github.com/containerd/go-cni"
	cniip "github.com/containernetworking/plugins/pkg/ip"
	"github.com/containernetworking/plugins/plugins/ipam/host-local/backend/disk"
)

// cniConflist renders occ's CNI network: a bridge of its own with host-local
// IPAM (state under dataDir), portmap for publishing and the firewall plugin
// so the host's FORWARD policy does not drop the traffic.
func cniConflist(n NetworkOptions, ipamDir string) ([]byte, error) {
	if _, _, err := net.ParseCIDR(n.Subnet); err != nil {
		return nil, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("CNI subnet %q is not a CIDR: %v", n.Subnet, err))
	}
	if len(n.Bridge) == 0 || len(n.Bridge) > 15 {
		return nil, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("bridge name %q must be 1 to 15 characters", n.Bridge))
	}
	type obj = map[string]any
	conf := obj{
		"cniVersion": "1.0.0",
		"name":       n.Name,
		"plugins": []obj{
			{
				"type": "bridge", "bridge": n.Bridge, "isGateway": true, "ipMasq": true, "hairpinMode": true,
				"ipam": obj{
					"type":    "host-local",
					"dataDir": ipamDir,
					"ranges":  [][]obj{{{"subnet": n.Subnet}}},
					"routes":  []obj{{"dst": "0.0.0.0/0"}},
				},
			},
			{"type": "portmap", "capabilities": obj{"portMappings": true}},
			{"type": "firewall"},
		},
	}
	return json.Marshal(conf)
}

// cniState is what a later occ process needs to undo a CNI ADD.
type cniState struct {
	ID       string
	NetNS    string
	Conflist []byte
	Ports    []gocni.PortMapping
	IPs      []string // the container's addresses on the bridge, from ADD
}

// cniIfName is the container-side interface of occ's network (go-cni names
// the first network prefix+0).
const cniIfName = "eth0"

func newCNI(pluginDirs []string, conflist []byte) (gocni.CNI, error) {
	var dirs []string
	for _, d := range pluginDirs {
		if st, err := os.Stat(d); err == nil && st.IsDir() {
			dirs = append(dirs, d)
		}
	}
	if len(dirs) == 0 {
		return nil, errdefs.ErrFailedPrecondition.WithMessage(fmt.Sprintf(
			"no CNI plugin directory found (looked in %v): install the CNI plugins (Debian/Ubuntu: apt-get install containernetworking-plugins), set cni_plugin_dirs, or use network_mode host", pluginDirs))
	}
	for _, p := range []string{"bridge", "host-local", "portmap", "firewall", "loopback"} {
		found := false
		for _, d := range dirs {
			if _, err := os.Stat(filepath.Join(d, p)); err == nil {
				found = true
				break
			}
		}
		if !found {
			return nil, errdefs.ErrFailedPrecondition.WithMessage(fmt.Sprintf(
				"CNI plugin %q not found in %v: install the CNI plugins (containernetworking-plugins) or fix cni_plugin_dirs", p, dirs))
		}
	}
	c, err := gocni.New(gocni.WithPluginDir(dirs), gocni.WithInterfacePrefix("eth"))
	if err != nil {
		return nil, fmt.Errorf("init CNI: %w", err)
	}
	// The conflist first so its interface is eth0; loopback is named "lo".
	if err := c.Load(gocni.WithConfListBytes(conflist), gocni.WithLoNetwork); err != nil {
		return nil, fmt.Errorf("load occ's CNI config: %w", err)
	}
	return c, nil
}

// setupNetwork creates a fresh network namespace under runDir and runs CNI
// ADD in it. On failure nothing is left behind.
func setupNetwork(ctx context.Context, st *cniState, pluginDirs []string, runDir string) (err error) {
	c, err := newCNI(pluginDirs, st.Conflist)
	if err != nil {
		return err
	}
	ns, err := netns.NewNetNS(filepath.Join(runDir, "netns"))
	if err != nil {
		return fmt.Errorf("create a network namespace under %s: %w", runDir, err)
	}
	st.NetNS = ns.GetPath()
	defer func() {
		if err != nil {
			_ = c.Remove(context.WithoutCancel(ctx), st.ID, st.NetNS, gocni.WithCapabilityPortMap(st.Ports))
			_ = ns.Remove()
			st.NetNS = ""
		}
	}()
	res, err := c.Setup(ctx, st.ID, st.NetNS, gocni.WithCapabilityPortMap(st.Ports))
	if err != nil {
		return fmt.Errorf("CNI network setup (bridge, portmap, firewall) failed: %w; check that iptables is installed and the plugins in cni_plugin_dirs work, or use network_mode host", err)
	}
	if ifc := res.Interfaces[cniIfName]; ifc != nil {
		for _, ipc := range ifc.IPConfigs {
			st.IPs = append(st.IPs, ipc.IP.String())
		}
	}
	// occ's own record of the setup, beside the namespace: containerd's
	// labels hold the same, but they are gone when containerd's state is
	// wiped or the container is deleted with another tool.
	if err := writeNetRecord(*st); err != nil {
		return err
	}
	// Under rootless containerd this namespace is rootlesskit's: its port
	// driver carries the published port to the host (rootless.go).
	if rk := rootlessChild(); rk != nil {
		if err := rk.forwardPorts(ctx, st.Ports, st.IPs); err != nil {
			return err
		}
	}
	return nil
}

// netRecordPath is where setupNetwork records a namespace's CNI state:
// next to the namespace file, so it lives and dies with RunDir.
func netRecordPath(netnsPath string) string { return netnsPath + ".occ.json" }

func writeNetRecord(st cniState) error {
	b, err := json.Marshal(st)
	if err != nil {
		return fmt.Errorf("encode the network record: %w", err)
	}
	if err := os.WriteFile(netRecordPath(st.NetNS), b, 0o600); err != nil {
		return fmt.Errorf("record the network setup: %w", err)
	}
	return nil
}

// releaseStaleNetwork undoes what an earlier start of the container with
// CNI id st.ID left behind when containerd no longer knows about it (its
// state wiped, the container deleted with another tool, the testbed torn
// down under a running sandbox): without this the host-local IPAM store
// in the data directory still holds the container's address and every
// ADD fails with "… has been allocated to <id>, duplicate allocation is
// not allowed". It tears down each namespace recorded under
// runDir/netns for the id (CNI DEL in it: veth, IPAM, portmap and
// masquerade state; then the namespace), and then runs a CNI DEL without
// a namespace for an address the IPAM store still gives the id (the
// namespace went with a reboot). A no-op when nothing is left.
func releaseStaleNetwork(ctx context.Context, st cniState, pluginDirs []string, runDir, ipamDir, network string) error {
	var errs []error
	records, _ := filepath.Glob(filepath.Join(runDir, "netns", "*.occ.json"))
	for _, p := range records {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		var old cniState
		if json.Unmarshal(b, &old) != nil || old.ID != st.ID || netRecordPath(old.NetNS) != p {
			continue
		}
		if err := teardownNetwork(ctx, old, pluginDirs); err != nil {
			errs = append(errs, err)
		}
	}
	if ips := ipamAddresses(ipamDir, network, st.ID); len(ips) > 0 {
		old := st
		old.NetNS, old.IPs = "", ips
		if err := teardownNetwork(ctx, old, pluginDirs); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("release the network an earlier start of %s left behind: %w", st.ID, err)
	}
	return nil
}

// ipamAddresses returns the addresses host-local's store under
// ipamDir/network holds for id on occ's interface.
func ipamAddresses(ipamDir, network, id string) []string {
	if _, err := os.Stat(filepath.Join(ipamDir, network)); err != nil {
		return nil // never used: do not create the store
	}
	store, err := disk.New(network, ipamDir)
	if err != nil {
		return nil
	}
	defer store.Close()
	var ips []string
	for _, ip := range store.GetByID(id, cniIfName) {
		ips = append(ips, ip.String())
	}
	return ips
}

// teardownNetwork runs CNI DEL (releasing the IPAM lease, removing the
// per-container iptables chains) and removes the namespace. It is
// idempotent: a missing namespace is still DEL'd so IPAM and iptables state
// from an earlier boot is released.
func teardownNetwork(ctx context.Context, st cniState, pluginDirs []string) error {
	var errs []error
	if rk := rootlessChild(); rk != nil && len(st.Ports) > 0 {
		if err := rk.unforwardPorts(ctx, st.Ports); err != nil {
			errs = append(errs, err)
		}
	}
	if len(st.Conflist) > 0 && st.ID != "" {
		c, err := newCNI(pluginDirs, st.Conflist)
		if err != nil {
			errs = append(errs, err)
		} else {
			path := st.NetNS
			if path != "" {
				if closed, _ := netns.LoadNetNS(path).Closed(); closed {
					path = "" // DEL without a namespace still releases IPAM and portmap state
				}
			}
			if err := c.Remove(ctx, st.ID, path, gocni.WithCapabilityPortMap(st.Ports)); err != nil {
				errs = append(errs, fmt.Errorf("CNI teardown: %w", err))
			}
			if path == "" {
				// Without a namespace the bridge plugin cannot find the
				// container's address and skips its masquerade rule and
				// chain; remove them the way the plugin would.
				if err := teardownIPMasq(st); err != nil {
					errs = append(errs, err)
				}
			}
		}
	}
	if st.NetNS != "" {
		if err := netns.LoadNetNS(st.NetNS).Remove(); err != nil {
			errs = append(errs, fmt.Errorf("remove network namespace %s: %w", st.NetNS, err))
		}
		if len(errs) == 0 {
			if err := os.Remove(netRecordPath(st.NetNS)); err != nil && !errors.Is(err, os.ErrNotExist) {
				errs = append(errs, fmt.Errorf("remove the network record: %w", err))
			}
		}
	}
	return errors.Join(errs...)
}

// teardownIPMasq removes the bridge plugin's per-container masquerade rule
// and chain (iptables or nftables) for the addresses recorded at ADD.
func teardownIPMasq(st cniState) error {
	var conf struct {
		Name string `json:"name"`
	}
	if err := json.Unmarshal(st.Conflist, &conf); err != nil || conf.Name == "" {
		return nil
	}
	var ipns []*net.IPNet
	for _, s := range st.IPs {
		if ip := net.ParseIP(s); ip != nil {
			bits := 32
			if ip.To4() == nil {
				bits = 128
			}
			ipns = append(ipns, &net.IPNet{IP: ip, Mask: net.CIDRMask(bits, bits)})
		}
	}
	if len(ipns) == 0 {
		return nil
	}
	if err := cniip.TeardownIPMasqForNetworks(ipns, conf.Name, cniIfName, st.ID); err != nil {
		return fmt.Errorf("remove the masquerade rules of %s: %w", st.ID, err)
	}
	return nil
}

// PortInUseError says the published port is taken, with the next free one.
type PortInUseError struct {
	Address   string // bind address
	Port      int
	Suggested int // 0 if none free within +100
	// Instance is the sandbox instance whose port it is ("" the default):
	// the hint then names the instance's config.
	Instance string
}

func (e *PortInUseError) Error() string {
	msg := fmt.Sprintf("port %d is already in use on %s", e.Port, e.Address)
	if e.Suggested > 0 {
		occ := "occ"
		if e.Instance != "" {
			occ += " --sandbox-instance " + e.Instance
		}
		msg += fmt.Sprintf("; try port %d (%s config set opencode_web_port %d), or stop what is listening on %d", e.Suggested, occ, e.Suggested, e.Port)
	} else {
		msg += fmt.Sprintf("; no free port within %d-%d: stop what is listening on %d or choose another port", e.Port+1, e.Port+100, e.Port)
	}
	return msg
}

func (e *PortInUseError) Unwrap() error { return errdefs.ErrAlreadyExists }

// CheckPortFree binds a TCP listener on address:port to see whether the port
// is free. When it is taken it returns a *PortInUseError suggesting the
// first free port within the next 100.
func CheckPortFree(address string, port int) error {
	if err := tryBind(address, port); err != nil {
		if !errors.Is(err, syscall.EADDRINUSE) && !errors.Is(err, syscall.EACCES) {
			return fmt.Errorf("cannot bind %s: %w (is bind_address an address of this host?)", net.JoinHostPort(address, strconv.Itoa(port)), err)
		}
		e := &PortInUseError{Address: address, Port: port}
		for p := port + 1; p <= port+100 && p <= 65535; p++ {
			if tryBind(address, p) == nil {
				e.Suggested = p
				break
			}
		}
		return e
	}
	return nil
}

func tryBind(address string, port int) error {
	l, err := net.Listen("tcp", net.JoinHostPort(address, strconv.Itoa(port)))
	if err != nil {
		return err
	}
	return l.Close()
}
