package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/opencode-cloud/occ/pkg/meta"
)

// ConfigShowCmd prints the configuration.
type ConfigShowCmd struct {
	JSON        bool `name:"json" help:"Print JSON instead of a table."`
	ShowSecrets bool `name:"show-secrets" help:"Show container_env values (masked otherwise; they are often API keys)."`
}

func (c *ConfigShowCmd) Run(app *App) error {
	cfg, exists, err := app.LoadFileConfig()
	if err != nil {
		return err
	}
	if c.JSON {
		return c.renderJSON(app, cfg)
	}
	tw := tabwriter.NewWriter(app.UI.Out, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "%s\t%s\n", app.UI.Bold("Key"), app.UI.Bold("Value"))
	for _, k := range meta.Keys {
		if !meta.HiddenKeys[k.Name] {
			fmt.Fprintf(tw, "%s\t%s\n", k.Name, c.displayValue(app, cfg, k))
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	note := ""
	if !exists {
		note = " (not created yet: these are the defaults)"
	}
	fmt.Fprintf(app.UI.Out, "\nConfig file: %s%s\n", app.Paths.ConfigFile, note)
	if err := cfg.Validate(); err != nil {
		app.UI.Warnf("the configuration has problems; occ start will refuse it:")
		app.UI.PrintError(err)
	}
	return nil
}

// renderJSON prints the keys in file order, secrets masked, hidden keys
// left out.
func (c *ConfigShowCmd) renderJSON(app *App, cfg *meta.Config) error {
	var b strings.Builder
	b.WriteString("{")
	first := true
	for _, k := range meta.Keys {
		if meta.HiddenKeys[k.Name] {
			continue
		}
		enc, err := json.MarshalIndent(configJSONValue(cfg, k, c.ShowSecrets), "  ", "  ")
		if err != nil {
			return err
		}
		if !first {
			b.WriteString(",")
		}
		first = false
		fmt.Fprintf(&b, "\n  %q: %s", k.Name, enc)
	}
	b.WriteString("\n}")
	fmt.Fprintln(app.UI.Out, b.String())
	return nil
}

// displayValue is a key's value in the table, coloured where it matters.
func (c *ConfigShowCmd) displayValue(app *App, cfg *meta.Config, k meta.Key) string {
	v := cfg.Display(k)
	if k.Name == "container_env" && c.ShowSecrets && len(cfg.ContainerEnv) > 0 {
		v = strings.Join(cfg.ContainerEnv, ", ")
	}
	switch {
	case k.Name == "bind_address" && meta.IsExposed(cfg.BindAddress):
		v = app.UI.Yellow(v)
	case k.Name == "bind_address":
		v = app.UI.Green(v)
	case k.Name == "allow_unauthenticated_network" && cfg.AllowUnauthenticatedNetwork:
		v = app.UI.Yellow(v)
	case k.Name == "image_tag" && cfg.ImageTag == "":
		v = app.UI.Dim("(this occ's sandbox: " + meta.SandboxTag() + ")")
	case k.Name == "image_verify" && cfg.ImageVerify == meta.VerifyAuto:
		v += app.UI.Dim(" (require for occ's own repositories, warn for others)")
	}
	return v
}

// configJSONValue is a key's value in JSON: typed, secrets masked,
// container_env's values masked unless showSecrets.
func configJSONValue(cfg *meta.Config, k meta.Key, showSecrets bool) any {
	v := cfg.Value(k)
	if k.Secret && v != nil && v != "" {
		v = "********"
	}
	if k.Name == "container_env" && !showSecrets {
		v = meta.MaskEnv(cfg.ContainerEnv)
	}
	return v
}
