package doctor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/opencode-cloud/occ/pkg/build"
	"github.com/opencode-cloud/occ/pkg/meta"
	"github.com/opencode-cloud/occ/pkg/registry"
	"github.com/opencode-cloud/occ/pkg/runtime"
)

func TestCheckCNI(t *testing.T) {
	mk := func(t *testing.T, plugins ...string) string {
		d := t.TempDir()
		for _, p := range plugins {
			if err := os.WriteFile(filepath.Join(d, p), []byte("#!/bin/sh\n"), 0o755); err != nil {
				t.Fatal(err)
			}
		}
		return d
	}
	tests := []struct {
		name   string
		dirs   func(t *testing.T) []string
		status Status
		detail string
	}{
		{"all in one dir", func(t *testing.T) []string { return []string{mk(t, CNIPlugins...)} }, OK, "bridge, host-local"},
		{"spread over two", func(t *testing.T) []string {
			return []string{mk(t, "bridge", "host-local"), mk(t, "portmap", "firewall", "loopback")}
		}, OK, ":"},
		{"missing firewall", func(t *testing.T) []string { return []string{mk(t, "bridge", "host-local", "portmap", "loopback")} }, Fail, "missing firewall"},
		{"no dir", func(t *testing.T) []string { return []string{"/nonexistent/cni"} }, Fail, "missing bridge, host-local, portmap, firewall, loopback"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := CNI(tt.dirs(t))
			if r.Status != tt.status || !strings.Contains(r.Detail, tt.detail) {
				t.Errorf("got %+v", r)
			}
			if r.Status == Fail && !strings.Contains(r.Fix, "containernetworking-plugins") {
				t.Errorf("fix: %q", r.Fix)
			}
		})
	}
}

func TestInsecureHost(t *testing.T) {
	cfg := meta.DefaultConfig()
	cfg.InsecureRegistries = []string{"reg.lan:5000"}
	for host, want := range map[string]bool{
		"reg.lan:5000": true, "reg.lan": false, "127.0.0.1:5001": true, "localhost:5000": true, "[::1]:5000": true,
		"ghcr.io": false, "10.0.0.1:5000": false,
	} {
		if got := InsecureHost(cfg, host); got != want {
			t.Errorf("%s: got %v, want %v", host, got, want)
		}
	}
}

func TestRegistryFailure(t *testing.T) {
	tests := []struct {
		err    error
		status Status
		detail string
		fix    string
	}{
		{&transport.Error{StatusCode: http.StatusUnauthorized}, Fail, "access denied (HTTP 401)", "occ login r.io"},
		{&transport.Error{StatusCode: http.StatusNotFound}, Warn, "not found", "image_tag"},
		{&transport.Error{StatusCode: 502}, Fail, "HTTP 502", "try again"},
		{errors.New(`Get "https://r.io/v2/": http: server gave HTTP response to HTTPS client`), Fail, "HTTPS client", "insecure_registries r.io"},
		{fmt.Errorf("tls: x509: certificate signed by unknown authority"), Fail, "x509", "CA certificate"},
		{errors.New("dial tcp: connection refused"), Fail, "connection refused", "network"},
	}
	for _, tt := range tests {
		st, detail, fix := RegistryFailure("r.io/x:latest", "r.io", tt.err)
		if st != tt.status || !strings.Contains(detail, tt.detail) || !strings.Contains(fix, tt.fix) {
			t.Errorf("%v: got %s %q %q", tt.err, st, detail, fix)
		}
	}
}

func TestTooOldContainerd(t *testing.T) {
	for in, want := range map[string]bool{"v2.4.2": false, "1.7.13-1": false, "2.0.0+unknown": false, "1.6.0": false,
		"v1.5.9": true, "1.10.1": false, "0.9": true, "weird": false} {
		if got := TooOldContainerd(in); got != want {
			t.Errorf("%s: got %v", in, got)
		}
	}
}

// fakeContainerd answers the containerd checks.
type fakeContainerd struct {
	version    string
	versionErr error
	namespaces []string
	found      bool
	initErr    string
	closed     *bool
}

func (f fakeContainerd) Version(context.Context) (string, error)      { return f.version, f.versionErr }
func (f fakeContainerd) Namespaces(context.Context) ([]string, error) { return f.namespaces, nil }
func (f fakeContainerd) SnapshotterPlugin(context.Context, string) (bool, string, error) {
	return f.found, f.initErr, nil
}
func (f fakeContainerd) Close() error { *f.closed = true; return nil }

// socket listens on a unix socket in a temporary directory (the checks
// only stat it).
func socket(t *testing.T) string {
	path := filepath.Join(t.TempDir(), "containerd.sock")
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return path
}

// statuses renders rows as "name=status" for comparison.
func statuses(rows []Check) string {
	var s []string
	for _, r := range rows {
		s = append(s, r.Name+"="+string(r.Status))
	}
	return strings.Join(s, " ")
}

func TestContainerd(t *testing.T) {
	good := fakeContainerd{version: "v2.4.2", namespaces: []string{"opencode-cloud"}, found: true}
	tests := []struct {
		name       string
		noSocket   bool
		client     fakeContainerd
		connectErr error
		want       string
		detail     string
	}{
		{"all good", false, good, nil,
			"containerd socket=ok containerd version=ok containerd namespace=ok snapshotter=ok", "opencode-cloud exists"},
		{"no socket", true, good, nil,
			"containerd socket=fail containerd version=skip containerd namespace=skip snapshotter=skip", "no socket at"},
		{"no answer", false, good, errors.New("connection refused"),
			"containerd socket=fail containerd version=skip containerd namespace=skip snapshotter=skip", "connection refused"},
		{"too old", false, fakeContainerd{version: "v1.5.9", namespaces: good.namespaces, found: true}, nil,
			"containerd socket=ok containerd version=fail containerd namespace=ok snapshotter=ok", "v1.5.9 is too old"},
		{"version fails", false, fakeContainerd{versionErr: errors.New("boom"), found: true}, nil,
			"containerd socket=ok containerd version=fail containerd namespace=ok snapshotter=ok", "does not exist yet"},
		{"no snapshotter", false, fakeContainerd{version: "2.0.0", found: false}, nil,
			"containerd socket=ok containerd version=ok containerd namespace=ok snapshotter=fail", "has no snapshotter overlayfs"},
		{"snapshotter broken", false, fakeContainerd{version: "2.0.0", found: true, initErr: "overlay on overlay"}, nil,
			"containerd socket=ok containerd version=ok containerd namespace=ok snapshotter=fail", "failed to load in containerd: overlay on overlay"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := meta.DefaultConfig()
			cfg.ContainerdAddr = socket(t)
			if tt.noSocket {
				cfg.ContainerdAddr = filepath.Join(t.TempDir(), "none.sock")
			}
			closed := false
			tt.client.closed = &closed
			env := &Env{Config: cfg, ConnectContainerd: func(context.Context, *meta.Config) (ContainerdClient, error) {
				if tt.connectErr != nil {
					return nil, tt.connectErr
				}
				return tt.client, nil
			}}
			rows := Run(context.Background(), env, []CheckFunc{Containerd})
			if got := statuses(rows); got != tt.want {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
			all := fmt.Sprint(rows)
			if !strings.Contains(all, tt.detail) {
				t.Errorf("no %q in %v", tt.detail, rows)
			}
			if connected := !tt.noSocket && tt.connectErr == nil; closed != connected {
				t.Errorf("closed %v, connected %v", closed, connected)
			}
		})
	}
}

func TestRunc(t *testing.T) {
	tests := []struct {
		name    string
		lookErr error
		outErr  error
		status  Status
		detail  string
	}{
		{"runs", nil, nil, OK, "/usr/bin/runc (runc version 1.2.5)"},
		{"not on PATH", errors.New("not found"), nil, Fail, "not on PATH"},
		{"does not run", nil, errors.New("exec format error"), Fail, "does not run: exec format error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := &Env{Config: meta.DefaultConfig(),
				LookPath: func(string) (string, error) { return "/usr/bin/runc", tt.lookErr },
				Output: func(string, ...string) ([]byte, error) {
					return []byte("runc version 1.2.5\ncommit: x\n"), tt.outErr
				}}
			r := Run(context.Background(), env, []CheckFunc{Runc})[0]
			if r.Status != tt.status || !strings.Contains(r.Detail, tt.detail) {
				t.Errorf("got %+v", r)
			}
		})
	}
}

func TestNetwork(t *testing.T) {
	cfg := meta.DefaultConfig()
	cfg.NetworkMode = meta.NetworkHost
	env := &Env{Config: cfg, LookPath: func(string) (string, error) { return "", errors.New("no") }}
	if got := statuses(Run(context.Background(), env, []CheckFunc{Network})); got != "network=ok" {
		t.Errorf("host mode: %s", got)
	}
	cfg = meta.DefaultConfig()
	cfg.CNIPluginDirs = []string{t.TempDir()}
	env.Config = cfg
	rows := Run(context.Background(), env, []CheckFunc{Network})
	if got := statuses(rows); got != "CNI plugins=fail iptables=fail" {
		t.Errorf("cni mode: %s", got)
	}
	if !strings.Contains(rows[1].Fix, "apt-get install iptables") {
		t.Errorf("iptables fix: %q", rows[1].Fix)
	}
}

func TestBuildKit(t *testing.T) {
	unreachable := &build.UnreachableError{Tried: []build.AddressError{{Address: "unix:///run/buildkit/buildkitd.sock", Err: errors.New("no such file")}}}
	tests := []struct {
		name   string
		source string
		info   BuildKitInfo
		err    error
		status Status
		detail string
	}{
		{"containerd worker, other namespace", meta.SourcePrebuilt,
			BuildKitInfo{Address: "unix:///b.sock", Version: "v0.34.2", Worker: build.WorkerInfo{Kind: build.WorkerContainerd, Namespace: "buildkit"}}, nil,
			OK, "v0.34.2 at unix:///b.sock, containerd worker (namespace buildkit); images are copied into opencode-cloud after each build"},
		{"oci worker", meta.SourceBuild, BuildKitInfo{Address: "a", Version: "v0.34.2", Worker: build.WorkerInfo{Kind: build.WorkerOCI}}, nil,
			OK, "oci worker"},
		{"unreachable, not needed", meta.SourcePrebuilt, BuildKitInfo{}, unreachable,
			Warn, "not reachable at unix:///run/buildkit/buildkitd.sock: no such file (needed only to build from source"},
		{"unreachable, needed", meta.SourceBuild, BuildKitInfo{}, unreachable, Fail, "not reachable at"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := meta.DefaultConfig()
			cfg.ImageSource = tt.source
			env := &Env{Config: cfg, ConnectBuildKit: func(context.Context, []string) (BuildKitInfo, error) { return tt.info, tt.err }}
			r := Run(context.Background(), env, []CheckFunc{BuildKit})[0]
			if r.Status != tt.status || !strings.Contains(r.Detail, tt.detail) {
				t.Errorf("got %+v", r)
			}
			if r.Status != OK && !strings.Contains(r.Fix, "start buildkitd") {
				t.Errorf("fix: %q", r.Fix)
			}
		})
	}
}

func TestPrivileges(t *testing.T) {
	for uid, want := range map[int]Status{0: OK, 1000: Warn} {
		env := &Env{Config: meta.DefaultConfig(), Geteuid: func() int { return uid },
			Rootless: func() []runtime.RootlessCheck {
				return []runtime.RootlessCheck{{Name: "rootless", Status: "warn", Detail: "no rootlesskit state"}}
			}}
		if r := Run(context.Background(), env, []CheckFunc{Privileges})[0]; r.Status != want {
			t.Errorf("uid %d: %+v", uid, r)
		}
	}
}

func TestDisk(t *testing.T) {
	tests := []struct {
		free   int64
		err    error
		status Status
		detail string
	}{
		{1 << 30, nil, Fail, "1.00 GiB free at"},
		{5 << 30, nil, Warn, "5.00 GiB free"},
		{20 << 30, nil, OK, "20.00 GiB free"},
		{0, errors.New("statfs: no"), Warn, "cannot tell: statfs: no"},
	}
	for _, tt := range tests {
		dir := t.TempDir()
		var asked string
		env := &Env{Config: meta.DefaultConfig(), Paths: meta.Paths{DataDir: filepath.Join(dir, "not", "yet")},
			FreeBytes: func(d string) (int64, error) { asked = d; return tt.free, tt.err }}
		r := Run(context.Background(), env, []CheckFunc{Disk})[0]
		if r.Status != tt.status || !strings.Contains(r.Detail, tt.detail) {
			t.Errorf("%d: got %+v", tt.free, r)
		}
		if asked != dir {
			t.Errorf("asked about %s, want the nearest existing parent %s", asked, dir)
		}
	}
}

// serve pushes images to an in-memory registry; the repositories are on
// loopback, so the checks speak plain HTTP to them.
func serve(t *testing.T, images map[string]map[string]string) string {
	srv := httptest.NewServer(ggcrregistry.New(ggcrregistry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(srv.Close)
	host := strings.TrimPrefix(srv.URL, "http://")
	for ref, labels := range images {
		img, err := random.Image(256, 1)
		if err != nil {
			t.Fatal(err)
		}
		cf, err := img.ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		hp := registry.HostPlatform()
		cf.OS, cf.Architecture, cf.Variant = hp.OS, hp.Architecture, hp.Variant
		cf.Config.Labels = labels
		if img, err = mutate.ConfigFile(img, cf); err != nil {
			t.Fatal(err)
		}
		r, err := name.ParseReference(host+"/"+ref, name.Insecure)
		if err != nil {
			t.Fatal(err)
		}
		if err := remote.Write(r, img); err != nil {
			t.Fatal(err)
		}
	}
	return host
}

func TestRegistries(t *testing.T) {
	host := serve(t, map[string]map[string]string{
		"occ/sandbox:t1": {meta.ImageVersionLabel: "1.2.3"},
		"other/app:t1":   {"x": "y"},
	})
	tests := []struct {
		name   string
		repos  []string
		want   string
		detail string
	}{
		{"occ sandbox", []string{host + "/occ/sandbox"}, "registry " + host + "/occ/sandbox=ok",
			"occ sandbox 1.2.3, signature not checked (image_verify off)"},
		{"not a sandbox", []string{host + "/other/app"}, "registry " + host + "/other/app=fail", "NOT an occ sandbox image"},
		{"not found", []string{host + "/none/here"}, "registry " + host + "/none/here=fail", "not found"},
		{"a fallback missing", []string{host + "/none/here", host + "/occ/sandbox"},
			"registry " + host + "/none/here=warn registry " + host + "/occ/sandbox=ok", "occ sandbox 1.2.3"},
		{"bad reference last", []string{"UPPER/Case", host + "/occ/sandbox"},
			"registry " + host + "/occ/sandbox=ok registry UPPER/Case=fail", "could not parse reference: UPPER/Case:t1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := meta.DefaultConfig()
			cfg.ImageRepositories, cfg.ImageTag, cfg.ImageVerify = tt.repos, "t1", meta.VerifyOff
			rows := Run(context.Background(), &Env{Config: cfg}, []CheckFunc{Registries})
			if got := statuses(rows); got != tt.want {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
			if all := fmt.Sprint(rows); !strings.Contains(all, tt.detail) {
				t.Errorf("no %q in %v", tt.detail, rows)
			}
		})
	}
}

func TestRunKeepsOrderAndTakesExtraChecks(t *testing.T) {
	var seen []string
	check := func(name string) CheckFunc {
		return func(_ context.Context, env *Env) []Check {
			seen = append(seen, name)
			if env.LookPath == nil || env.FreeBytes == nil || env.ConnectContainerd == nil {
				t.Errorf("%s: Env defaults not filled in", name)
			}
			return []Check{{Name: name, Status: OK}}
		}
	}
	rows := Run(context.Background(), &Env{Config: meta.DefaultConfig()}, append(Checks()[:0:0], check("a"), check("rootless"), check("b")))
	if got := statuses(rows); got != "a=ok rootless=ok b=ok" || strings.Join(seen, ",") != "a,rootless,b" {
		t.Errorf("rows %s, seen %v", got, seen)
	}
	if n := Failed([]Check{{Status: Fail}, {Status: Warn}, {Status: Fail}}); n != 2 {
		t.Errorf("Failed = %d", n)
	}
}

func TestConfigCheck(t *testing.T) {
	bad := meta.DefaultConfig()
	bad.BootMode = "boot"
	tests := []struct {
		name    string
		exists  bool
		cfg     *meta.Config
		loadErr error
		status  Status
		detail  string
	}{
		{"no file", false, meta.DefaultConfig(), nil, OK, "does not exist yet"},
		{"valid", true, meta.DefaultConfig(), nil, OK, "is valid"},
		{"invalid", true, bad, nil, Fail, "boot_mode"},
		{"unreadable", true, nil, os.ErrPermission, Fail, "permission denied"},
	}
	for _, tt := range tests {
		r := ConfigCheck("/etc/occ.json", tt.exists, tt.cfg, tt.loadErr)
		if r.Status != tt.status || !strings.Contains(r.Detail, tt.detail) {
			t.Errorf("%s: got %+v", tt.name, r)
		}
	}
}
