package main

import (
	"strings"

	"github.com/alecthomas/kong"

	"github.com/opencode-cloud/occ/pkg/doctor"
	"github.com/opencode-cloud/occ/pkg/meta"
)

// daemonSetting is one daemon setting and where its value came from.
type daemonSetting struct {
	key, flag, env string
	value          func(cfg *meta.Config) string
	given          func(g *Globals) string
	fileValue      func(file *meta.Config) string
	defaultValue   string
}

var daemonSettings = []daemonSetting{
	{key: "containerd_address", flag: "address", env: "CONTAINERD_ADDRESS",
		value: func(c *meta.Config) string { return c.ContainerdAddress() }, given: func(g *Globals) string { return g.Address },
		fileValue: func(c *meta.Config) string { return c.ContainerdAddr }},
	{key: "containerd_namespace", flag: "namespace", env: "CONTAINERD_NAMESPACE",
		value: func(c *meta.Config) string { return c.ContainerdNamespace }, given: func(g *Globals) string { return g.Namespace },
		fileValue: func(c *meta.Config) string { return c.ContainerdNamespace }, defaultValue: meta.DefaultConfig().ContainerdNamespace},
	{key: "snapshotter", flag: "snapshotter", env: "CONTAINERD_SNAPSHOTTER",
		value: func(c *meta.Config) string { return c.Snapshotter }, given: func(g *Globals) string { return g.Snapshotter },
		fileValue: func(c *meta.Config) string { return c.Snapshotter }, defaultValue: meta.DefaultConfig().Snapshotter},
	{key: "buildkit_address", flag: "buildkit-host", env: "BUILDKIT_HOST",
		value: func(c *meta.Config) string { return strings.Join(c.BuildkitAddresses(), ", ") }, given: func(g *Globals) string { return g.BuildkitHost },
		fileValue: func(c *meta.Config) string { return c.BuildkitAddr }},
	{key: "cni_plugin_dirs", flag: "cni-path", env: "CNI_PATH",
		value: func(c *meta.Config) string { return strings.Join(c.CNIPluginDirs, ":") }, given: func(g *Globals) string { return g.CNIPath },
		fileValue: func(c *meta.Config) string { return strings.Join(c.CNIPluginDirs, ":") }, defaultValue: strings.Join(meta.DefaultCNIPluginDirs, ":")},
}

// source says where a daemon setting's value came from: the flag, the
// environment variable, the config file or the default.
func (s daemonSetting) source(g *Globals, file *meta.Config) string {
	switch {
	case g != nil && s.given(g) != "" && g.fromFlag[s.flag]:
		return "--" + s.flag
	case g != nil && s.given(g) != "":
		return "$" + s.env
	case file != nil && s.fileValue(file) != s.defaultValue:
		return "config file"
	}
	return "default"
}

// daemonChecks are occ doctor's rows for the daemon settings in effect and
// where each came from (flag > environment > config file > default).
func daemonChecks(app *App, cfg *meta.Config) []doctor.Check {
	file, _, err := app.LoadFileConfig()
	if err != nil {
		file = nil
	}
	var out []doctor.Check
	for _, s := range daemonSettings {
		out = append(out, doctor.Check{Name: "setting " + s.key, Status: doctor.OK, Detail: s.value(cfg) + " (" + s.source(app.Globals, file) + ")"})
	}
	return out
}

// recordFlags notes which daemon flags were given on the command line (the
// others' values, if any, came from the environment).
func recordFlags(g *Globals, kctx *kong.Context) {
	g.fromFlag = map[string]bool{}
	for _, p := range kctx.Path {
		if p.Flag != nil {
			g.fromFlag[p.Flag.Name] = true
		}
	}
}

// daemonEnv is the daemon settings given by flag or environment at `occ
// install`, as environment variables for the service's unit: the service
// then uses what was in effect when it was installed.
func daemonEnv(g *Globals) []string {
	var env []string
	if g == nil {
		return nil
	}
	for _, s := range daemonSettings {
		if v := s.given(g); v != "" {
			env = append(env, s.env+"="+v)
		}
	}
	return env
}
