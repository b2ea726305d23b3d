package runtime

import (
	"context"
	"fmt"
	"sort"
	"strings"

	containerd "github.com/containerd/containerd/v2/client"
)

// envDifferences says which environment variables the container was
// created with differ from the ones it would get now (container_env and
// the gateway settings; not those derived from the port, network mode or
// mounts, which are compared on their own): names only, since container_env values are often
// API keys. It is empty when the image changed too (that difference alone
// asks for a recreate, and the image's own env would only add noise) or
// when the spec or the image cannot be read.
func (s *Sandbox) envDifferences(ctx context.Context, c containerd.Container, img containerd.Image, plan MountPlan) []string {
	sp, err := c.Spec(ctx)
	if err != nil || sp.Process == nil {
		return nil
	}
	ic, err := img.Spec(ctx)
	if err != nil {
		return nil
	}
	want := s.processEnv(ic.Config.Env, plan)
	if d := diffEnv(withoutDerived(sp.Process.Env), withoutDerived(want)); d != "" {
		return []string{d}
	}
	return nil
}

// derivedEnv are the variables occ sets from settings Differences already
// compares on their own (the published address and network mode, the
// mounts): a change there is reported once, as itself.
var derivedEnv = map[string]bool{"OPENCODE_PORT": true, "OPENCODE_HOST": true, EnvHostMounts: true}

func withoutDerived(env []string) []string {
	out := make([]string, 0, len(env))
	for _, kv := range env {
		if k, _, _ := strings.Cut(kv, "="); !derivedEnv[k] {
			out = append(out, kv)
		}
	}
	return out
}

// diffEnv compares two KEY=value lists by key: what was added, changed
// and removed, by name, or "" when they hold the same.
func diffEnv(got, want []string) string {
	g, w := envMap(got), envMap(want)
	var added, changed, removed []string
	for k, v := range w {
		if gv, ok := g[k]; !ok {
			added = append(added, k)
		} else if gv != v {
			changed = append(changed, k)
		}
	}
	for k := range g {
		if _, ok := w[k]; !ok {
			removed = append(removed, k)
		}
	}
	if len(added)+len(changed)+len(removed) == 0 {
		return ""
	}
	var parts []string
	for _, x := range []struct {
		what string
		keys []string
	}{{"added", added}, {"changed", changed}, {"removed", removed}} {
		if len(x.keys) > 0 {
			sort.Strings(x.keys)
			parts = append(parts, fmt.Sprintf("%s %s", strings.Join(x.keys, ", "), x.what))
		}
	}
	return "environment: " + strings.Join(parts, "; ")
}

// envMap reads a KEY=value list; a later entry for a key wins, as in execve.
func envMap(env []string) map[string]string {
	m := make(map[string]string, len(env))
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		if k != "" {
			m[k] = v
		}
	}
	return m
}
