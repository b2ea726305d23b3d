package ops

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"github.com/opencode-cloud/occ/pkg/meta"
	"github.com/opencode-cloud/occ/pkg/runtime"
)

// InstanceInfo is one of occ's sandbox containers in the config's
// containerd namespace (`occ instance list`).
type InstanceInfo struct {
	Instance  string `json:"instance"` // "" for the default instance
	Container string `json:"container"`
	State     string `json:"state"`
	Published string `json:"published,omitempty"` // host:port
	Image     string `json:"image,omitempty"`
}

// Instances lists the sandbox containers occ manages in the namespace of
// the config in effect, the default instance first, then by instance.
func (e *Env) Instances(ctx context.Context) ([]InstanceInfo, error) {
	cfg, err := e.LoadConfig()
	if err != nil {
		return nil, err
	}
	rt, err := e.dial(ctx, cfg)
	if err != nil {
		return nil, err
	}
	defer rt.Close()
	ids, err := rt.ManagedContainers(ctx)
	if err != nil {
		return nil, fmt.Errorf("list occ's containers in namespace %s: %w", rt.Namespace, err)
	}
	out := make([]InstanceInfo, 0, len(ids))
	for _, id := range ids {
		opts := runtime.SpecOptions{Config: cfg, Paths: e.Paths, Name: id}
		if d := os.Getenv(RunDirEnv); filepath.IsAbs(d) {
			opts.RunDir = d
		}
		sb, err := runtime.NewSandbox(rt, opts)
		if err != nil {
			return nil, err
		}
		st, err := sb.Status(ctx)
		if err != nil {
			return nil, fmt.Errorf("read container %s: %w", id, err)
		}
		out = append(out, InstanceInfo{Instance: st.Labels[meta.LabelInstance], Container: id,
			State: string(st.State), Published: st.Published, Image: st.Image})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Instance != out[j].Instance {
			return out[i].Instance < out[j].Instance
		}
		return out[i].Container < out[j].Container
	})
	return out, nil
}
