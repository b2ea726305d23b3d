package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/opencode-cloud/occ/pkg/meta"
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
		status checkStatus
		detail string
	}{
		{"all in one dir", func(t *testing.T) []string { return []string{mk(t, cniPlugins...)} }, checkOK, "bridge, host-local"},
		{"spread over two", func(t *testing.T) []string {
			return []string{mk(t, "bridge", "host-local"), mk(t, "portmap", "firewall", "loopback")}
		}, checkOK, ":"},
		{"missing firewall", func(t *testing.T) []string { return []string{mk(t, "bridge", "host-local", "portmap", "loopback")} }, checkFail, "missing firewall"},
		{"no dir", func(t *testing.T) []string { return []string{"/nonexistent/cni"} }, checkFail, "missing bridge, host-local, portmap, firewall, loopback"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := checkCNI(tt.dirs(t))
			if r.Status != tt.status || !strings.Contains(r.Detail, tt.detail) {
				t.Errorf("got %+v", r)
			}
			if r.Status == checkFail && !strings.Contains(r.Fix, "containernetworking-plugins") {
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
		if got := insecureHost(cfg, host); got != want {
			t.Errorf("%s: got %v, want %v", host, got, want)
		}
	}
}

func TestRegistryFailure(t *testing.T) {
	tests := []struct {
		err    error
		status checkStatus
		detail string
		fix    string
	}{
		{&transport.Error{StatusCode: http.StatusUnauthorized}, checkFail, "access denied (HTTP 401)", "log in to r.io"},
		{&transport.Error{StatusCode: http.StatusNotFound}, checkWarn, "not found", "image_tag"},
		{&transport.Error{StatusCode: 502}, checkFail, "HTTP 502", "try again"},
		{errors.New(`Get "https://r.io/v2/": http: server gave HTTP response to HTTPS client`), checkFail, "HTTPS client", "insecure_registries r.io"},
		{fmt.Errorf("tls: x509: certificate signed by unknown authority"), checkFail, "x509", "CA certificate"},
		{errors.New("dial tcp: connection refused"), checkFail, "connection refused", "network"},
	}
	for _, tt := range tests {
		st, detail, fix := registryFailure("r.io/x:latest", "r.io", tt.err)
		if st != tt.status || !strings.Contains(detail, tt.detail) || !strings.Contains(fix, tt.fix) {
			t.Errorf("%v: got %s %q %q", tt.err, st, detail, fix)
		}
	}
}

func TestTooOldContainerd(t *testing.T) {
	for in, want := range map[string]bool{"v2.4.2": false, "1.7.13-1": false, "2.0.0+unknown": false, "1.6.0": false,
		"v1.5.9": true, "1.10.1": false, "0.9": true, "weird": false} {
		if got := tooOldContainerd(in); got != want {
			t.Errorf("%s: got %v", in, got)
		}
	}
}

func TestRenderDoctor(t *testing.T) {
	results := []checkResult{
		{Name: "config", Status: checkOK, Detail: "valid"},
		{Name: "BuildKit", Status: checkFail, Detail: "not reachable", Fix: "start buildkitd"},
		{Name: "registry x", Status: checkWarn, Detail: "not found", Fix: "check the tag"},
		{Name: "snapshotter", Status: checkSkip, Detail: "containerd is not reachable"},
	}
	ui := NewUI(io.Discard, io.Discard, false, 0, false, false)
	var b bytes.Buffer
	failed, warned := renderDoctor(&b, ui, results, false)
	if failed != 1 || warned != 1 {
		t.Errorf("counts %d %d", failed, warned)
	}
	for _, w := range []string{"[ok  ] config", "[FAIL] BuildKit     not reachable\n", "Fix: start buildkitd", "[warn] registry x", "[skip] snapshotter", "1 problem(s) must be fixed"} {
		if !strings.Contains(b.String(), w) {
			t.Errorf("missing %q in:\n%s", w, b.String())
		}
	}
	b.Reset()
	renderDoctor(&b, ui, results, true)
	if strings.Contains(b.String(), "config") || strings.Contains(b.String(), "registry") || !strings.Contains(b.String(), "BuildKit") {
		t.Errorf("only failures:\n%s", b.String())
	}
}

func TestDoctorWithoutContainerd(t *testing.T) {
	cfgFile := occEnv(t)
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Dir(cfgFile), 0o755); err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf(`{"version":1,"containerd_address":%q,"buildkit_address":"unix://%s/bk.sock","image_repositories":[],"network_mode":"host"}`,
		filepath.Join(dir, "containerd.sock"), dir)
	if err := os.WriteFile(cfgFile, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, _ := occ(t, "", "doctor")
	if code != 1 {
		t.Errorf("exit %d", code)
	}
	for _, w := range []string{"[FAIL] containerd socket", "no socket at " + dir, "Fix: start containerd", "[skip] snapshotter",
		"[warn] BuildKit", "needed only to build from source", "network_mode host"} {
		if !strings.Contains(out, w) {
			t.Errorf("missing %q in:\n%s", w, out)
		}
	}
}
