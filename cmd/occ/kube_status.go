package main

import (
	"context"
	"encoding/json"
	"fmt"
	"text/tabwriter"
	"time"
)

// KubeStatusCmd shows the instance from the StatefulSet and its pod.
type KubeStatusCmd struct {
	JSON bool `name:"json" help:"Print the facts as JSON."`
	kubeFlags
}

func (c *KubeStatusCmd) Run(ctx context.Context, app *App) error {
	kc, err := c.open(app)
	if err != nil {
		return err
	}
	st, err := kc.Status(ctx)
	if err != nil {
		return err
	}
	if c.JSON {
		enc := json.NewEncoder(app.UI.Out)
		enc.SetIndent("", "  ")
		return enc.Encode(st)
	}
	if !st.Exists {
		app.UI.Infof("No sandbox in namespace %s (context %s): occ kube apply deploys one.", st.Namespace, st.Context)
		return nil
	}
	tw := tabwriter.NewWriter(app.UI.Out, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "Context:\t%s\n", st.Context)
	fmt.Fprintf(tw, "Namespace:\t%s\n", st.Namespace)
	fmt.Fprintf(tw, "Image:\t%s\n", st.Image)
	if st.Verified != "" {
		fmt.Fprintf(tw, "Signature:\t%s\n", st.Verified)
	}
	if st.Previous != "" {
		fmt.Fprintf(tw, "Previous:\t%s\n", st.Previous)
	}
	fmt.Fprintf(tw, "Ready:\t%d/%d (updated %d)\n", st.Ready, st.Replicas, st.Updated)
	fmt.Fprintf(tw, "Users:\t%d\n", st.Users)
	for _, p := range st.Pods {
		state := p.Phase
		if p.Ready {
			state += ", ready"
		}
		if p.Reason != "" {
			state += " (" + p.Reason + ")"
		}
		fmt.Fprintf(tw, "Pod:\t%s %s\n", p.Name, state)
		if !p.StartedAt.IsZero() {
			fmt.Fprintf(tw, "  Started:\t%s (%s ago), %d restarts\n", p.StartedAt.Local().Format(time.RFC3339), time.Since(p.StartedAt).Round(time.Second), p.Restarts)
		}
		if p.Node != "" {
			fmt.Fprintf(tw, "  Node:\t%s %s\n", p.Node, p.IP)
		}
	}
	return tw.Flush()
}
