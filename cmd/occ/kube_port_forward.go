package main

import (
	"context"
	"encoding/json"

	"github.com/opencode-cloud/occ/pkg/kube"
)

// KubePortForwardCmd reaches the sandbox's gateway from this machine
// through the API server (kubectl port-forward, without kubectl): no
// Service or Ingress needed, nothing exposed beyond --address.
type KubePortForwardCmd struct {
	Port   int    `short:"p" default:"0" help:"Local port (default ${default}: a free one, printed)."`
	Listen string `default:"127.0.0.1" placeholder:"ADDR" help:"Local address to listen on, kubectl's --address (default ${default})."`
	JSON   bool   `name:"json" help:"Print the forwarding as one JSON line once it listens."`
	kubeFlags
}

func (c *KubePortForwardCmd) Run(ctx context.Context, app *App) error {
	kc, err := c.open(app)
	if err != nil {
		return err
	}
	return kc.PortForward(ctx, kube.PortForwardOptions{Address: c.Listen, Port: c.Port, Errors: app.UI.Err},
		func(f kube.Forwarding) {
			if c.JSON {
				_ = json.NewEncoder(app.UI.Out).Encode(f)
				return
			}
			app.UI.Printf("%s", f.URL)
			app.UI.Infof("Forwarding %s to pod %s port %d: Ctrl-C stops.", f.Local, f.Pod, f.Remote)
		})
}
