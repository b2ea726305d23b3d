package main

import (
	"strings"
	"testing"

	"github.com/alecthomas/kong"

	"github.com/opencode-cloud/occ/pkg/meta"
)

// commandPaths lists every visible command of occ's kong model as argv
// (["config", "set"], …).
func commandPaths(t *testing.T) (paths [][]string, flags map[string][]*kong.Flag) {
	t.Helper()
	var cli CLI
	p, err := kong.New(&cli, kong.Name("occ"), kong.Exit(func(int) {}), kong.ExplicitGroups([]kong.Group{daemonGroup}))
	if err != nil {
		t.Fatal(err)
	}
	flags = map[string][]*kong.Flag{}
	var walk func(n *kong.Node, prefix []string)
	walk = func(n *kong.Node, prefix []string) {
		for _, c := range n.Children {
			if c.Hidden || c.Type != kong.CommandNode {
				continue
			}
			path := append(append([]string{}, prefix...), c.Name)
			paths = append(paths, path)
			flags[strings.Join(path, " ")] = c.Flags
			walk(c, path)
		}
	}
	walk(p.Model.Node, nil)
	flags[""] = p.Model.Flags
	return paths, flags
}

// TestEveryHelpRenders: `occ CMD --help` of every command exits 0 with the
// help on stdout and nothing on stderr, shows each flag's default and the
// environment variable it reads.
func TestEveryHelpRenders(t *testing.T) {
	paths, flags := commandPaths(t)
	if len(paths) < 30 {
		t.Fatalf("only %d commands found in the kong model", len(paths))
	}
	for _, path := range append(paths, []string{}) {
		name := strings.Join(path, " ")
		t.Run("occ "+name, func(t *testing.T) {
			occEnv(t)
			code, out, errOut := occ(t, "", append(path, "--help")...)
			if code != 0 || errOut != "" || !strings.HasPrefix(out, "Usage: occ") {
				t.Fatalf("exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
			}
			flat := strings.Join(strings.Fields(out), " ")
			for _, f := range append(flags[name], flags[""]...) {
				if f.Hidden {
					continue
				}
				if f.Default != "" && !f.IsBool() && !strings.Contains(flat, "default "+f.Default) {
					t.Errorf("--%s: the help does not show its default %q", f.Name, f.Default)
				}
				for _, env := range f.Envs {
					if !strings.Contains(flat, "$"+env) {
						t.Errorf("--%s: the help does not name $%s", f.Name, env)
					}
				}
			}
		})
	}
}

// TestMainCommandsHaveExamples: the commands people start with show
// examples in their --help.
func TestMainCommandsHaveExamples(t *testing.T) {
	for _, cmd := range []string{"start", "stop", "status", "logs", "update", "doctor", "install", "user add", "image pull", "image build", "config set", "config get"} {
		occEnv(t)
		_, out, _ := occ(t, "", append(strings.Fields(cmd), "--help")...)
		if !strings.Contains(out, "Examples:") || !strings.Contains(out, "occ "+cmd) {
			t.Errorf("occ %s --help has no examples:\n%s", cmd, out)
		}
	}
	// config set lists the keys it takes; config get every key.
	occEnv(t)
	_, set, _ := occ(t, "", "config", "set", "--help")
	_, get, _ := occ(t, "", "config", "get", "--help")
	for _, k := range meta.Keys {
		if k.Settable && !strings.Contains(set, "  "+k.Name+" ") {
			t.Errorf("config set --help lacks key %s", k.Name)
		}
		if !strings.Contains(get, "  "+k.Name+" ") {
			t.Errorf("config get --help lacks key %s", k.Name)
		}
	}
}
