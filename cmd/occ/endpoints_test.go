package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/opencode-cloud/occ/pkg/doctor"
)

func TestGlobalShortFlags(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{"-n ns status", "--namespace ns status"},
		{"-nns status", "--namespace=ns status"},
		{"-n=ns status", "--namespace=ns status"},
		{"-v -n ns logs -n 5", "-v --namespace ns logs -n 5"},
		{"logs -n 5", "logs -n 5"},
		{"--config /c -n ns status", "--config /c --namespace ns status"},
		{"--config -n status", "--config -n status"}, // -n is --config's value
		{"-a /s.sock -n ns image ls", "-a /s.sock --namespace ns image ls"},
		{"-- -n", "-- -n"},
		{"", ""},
	}
	for _, tt := range tests {
		got := strings.Join(globalShortFlags(strings.Fields(tt.in)), " ")
		if got != tt.want {
			t.Errorf("globalShortFlags(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestDaemonSettingsPrecedence: flag > environment > config file > default,
// as `occ doctor --json` reports them (the settings rows come first; the
// daemons are at dead sockets, so the rest fails fast).
func TestDaemonSettingsPrecedence(t *testing.T) {
	dir := t.TempDir()
	sock := func(name string) string { return filepath.Join(dir, name+".sock") }
	tests := []struct {
		name string
		file map[string]string // config keys set first
		env  map[string]string
		args []string
		want map[string]string // setting → detail
	}{
		{name: "defaults",
			want: map[string]string{"containerd_namespace": "opencode-cloud (default)", "snapshotter": "overlayfs (default)",
				"cni_plugin_dirs": "/opt/cni/bin:/usr/lib/cni (default)"}},
		{name: "config file over default",
			file: map[string]string{"containerd_address": sock("file"), "containerd_namespace": "filens", "snapshotter": "native", "cni_plugin_dirs": "/opt/file"},
			want: map[string]string{"containerd_address": sock("file") + " (config file)", "containerd_namespace": "filens (config file)",
				"snapshotter": "native (config file)", "cni_plugin_dirs": "/opt/file (config file)"}},
		{name: "environment over config file",
			file: map[string]string{"containerd_address": sock("file"), "containerd_namespace": "filens", "buildkit_address": "unix://" + sock("filebk")},
			env: map[string]string{"CONTAINERD_ADDRESS": sock("env"), "CONTAINERD_NAMESPACE": "envns", "CONTAINERD_SNAPSHOTTER": "native",
				"BUILDKIT_HOST": "unix://" + sock("envbk"), "CNI_PATH": "/opt/a:/opt/b"},
			want: map[string]string{"containerd_address": sock("env") + " ($CONTAINERD_ADDRESS)", "containerd_namespace": "envns ($CONTAINERD_NAMESPACE)",
				"snapshotter": "native ($CONTAINERD_SNAPSHOTTER)", "buildkit_address": "unix://" + sock("envbk") + " ($BUILDKIT_HOST)",
				"cni_plugin_dirs": "/opt/a:/opt/b ($CNI_PATH)"}},
		{name: "flags over environment",
			file: map[string]string{"containerd_namespace": "filens"},
			env:  map[string]string{"CONTAINERD_ADDRESS": sock("env"), "CONTAINERD_NAMESPACE": "envns", "BUILDKIT_HOST": "unix://" + sock("envbk")},
			args: []string{"-a", sock("flag"), "-n", "flagns", "--snapshotter", "zfs", "--buildkit-host", "tcp://127.0.0.1:1", "--cni-path", "/opt/flag"},
			want: map[string]string{"containerd_address": sock("flag") + " (--address)", "containerd_namespace": "flagns (--namespace)",
				"snapshotter": "zfs (--snapshotter)", "buildkit_address": "tcp://127.0.0.1:1 (--buildkit-host)", "cni_plugin_dirs": "/opt/flag (--cni-path)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfgFile := occEnv(t)
			for _, k := range []string{"CONTAINERD_ADDRESS", "CONTAINERD_NAMESPACE", "CONTAINERD_SNAPSHOTTER", "BUILDKIT_HOST", "CNI_PATH"} {
				t.Setenv(k, tt.env[k])
			}
			t.Setenv("XDG_RUNTIME_DIR", "")
			for k, v := range tt.file {
				if code, _, errOut := occ(t, "", "config", "set", k, v); code != 0 {
					t.Fatalf("config set %s: %s", k, errOut)
				}
			}
			before, _ := os.ReadFile(cfgFile)
			_, out, errOut := occ(t, "", append(tt.args, "doctor", "--json")...)
			var rows []doctor.Check
			if err := json.Unmarshal([]byte(out), &rows); err != nil {
				t.Fatalf("doctor --json: %v\n%s\n%s", err, out, errOut)
			}
			got := map[string]string{}
			for _, r := range rows {
				if k, ok := strings.CutPrefix(r.Name, "setting "); ok {
					got[k] = r.Detail
				}
			}
			for k, want := range tt.want {
				if got[k] != want {
					t.Errorf("%s: %q, want %q", k, got[k], want)
				}
			}
			// The overrides are never written to the config file.
			if after, _ := os.ReadFile(cfgFile); string(after) != string(before) {
				t.Errorf("the config file changed:\n%s\nwas:\n%s", after, before)
			}
		})
	}
}

// TestDaemonFlagsBadValue: a bad override is a usage error naming its
// source, and changes nothing.
func TestDaemonFlagsBadValue(t *testing.T) {
	occEnv(t)
	for _, args := range [][]string{
		{"-n", "BAD!", "status"},
		{"--address", "relative.sock", "status"},
		{"--cni-path", "relative/dir", "status"},
		{"--buildkit-host", "http://x", "image", "ls"},
	} {
		code, out, errOut := occ(t, "", args...)
		if code != exitUsage || out != "" || !strings.Contains(errOut, args[0]) {
			t.Errorf("occ %v: exit %d, stdout %q, stderr %q", args, code, out, errOut)
		}
	}
}

// TestInstallCarriesDaemonSettings: the unit gets the daemon settings given
// by flag or environment at install, and only those.
func TestInstallCarriesDaemonSettings(t *testing.T) {
	occEnv(t)
	t.Setenv("BUILDKIT_HOST", "unix:///run/bk.sock")
	t.Setenv("CONTAINERD_ADDRESS", "/run/env.sock")
	t.Setenv("CONTAINERD_NAMESPACE", "")
	t.Setenv("CONTAINERD_SNAPSHOTTER", "")
	t.Setenv("CNI_PATH", "")
	code, out, errOut := occ(t, "", "--address", "/run/flag.sock", "-n", "ns1", "install", "--dry-run")
	if code != 0 {
		t.Fatalf("install --dry-run: %d %s", code, errOut)
	}
	var env []string
	for _, l := range strings.Split(out, "\n") {
		if v, ok := strings.CutPrefix(l, "Environment="); ok && !strings.HasPrefix(v, "XDG_") && !strings.HasPrefix(v, "OCC_") {
			env = append(env, v)
		}
	}
	want := []string{"CONTAINERD_ADDRESS=/run/flag.sock", "CONTAINERD_NAMESPACE=ns1", "BUILDKIT_HOST=unix:///run/bk.sock"}
	if !slices.Equal(env, want) {
		t.Errorf("unit environment %q, want %q\n%s", env, want, out)
	}
}
