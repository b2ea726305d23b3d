package main

import (
	"context"
	"fmt"
	"os/exec"
	"strings"

	"github.com/opencode-cloud/occ/pkg/meta"
	"github.com/opencode-cloud/occ/pkg/ops"
)

// StartCmd gets the sandbox image if needed (pull or build, per flags, the
// first-run prompt or image_source), creates or recreates the container,
// starts it and waits until the service answers. With --no-daemon it then
// stays in the foreground supervising the container, for service managers.
type StartCmd struct {
	Port                      int      `short:"p" placeholder:"PORT" help:"Host port for the web UI, for this run only (default: opencode_web_port)."`
	Open                      bool     `help:"Open the web UI in a browser once it answers."`
	NoDaemon                  bool     `name:"no-daemon" help:"Stay in the foreground supervising the container (for service managers): exit when it stops, stop it on SIGTERM."`
	PullSandboxImage          bool     `name:"pull-sandbox-image" help:"Pull the prebuilt sandbox image (fast, ~2 min) and recreate the container."`
	CachedRebuildSandboxImage bool     `name:"cached-rebuild-sandbox-image" help:"Rebuild the sandbox image from source using the build cache, then recreate the container."`
	FullRebuildSandboxImage   bool     `name:"full-rebuild-sandbox-image" help:"Rebuild the sandbox image from source without cache (slow, 30-60 min), then recreate the container."`
	IgnoreVersion             bool     `name:"ignore-version" help:"Skip the check that the image's version matches occ's."`
	NoUpdateCheck             bool     `name:"no-update-check" help:"Skip the version-mismatch prompt on this start."`
	Yes                       bool     `short:"y" help:"Answer yes to \"Container is running. Stop and apply image change?\" and to recreating the container."`
	Mount                     []string `sep:"none" placeholder:"/HOST:/CONTAINER[:ro|rw]" help:"Bind mount for this run only (repeatable)."`
	NoMounts                  bool     `name:"no-mounts" help:"Ignore the configured mounts (only --mount applies)."`
	JSON                      bool     `name:"json" help:"Print where the service answers as JSON (before supervising, with --no-daemon)."`
}

// options checks the flags and turns them into start's options.
func (c *StartCmd) options() (ops.StartOptions, error) {
	action, err := ops.ImageActionOf(c.PullSandboxImage, c.CachedRebuildSandboxImage, c.FullRebuildSandboxImage)
	if err != nil {
		return ops.StartOptions{}, err
	}
	if c.Port != 0 && (c.Port < 1024 || c.Port > 65535) {
		return ops.StartOptions{}, errInvalidFlag(fmt.Sprintf("-p/--port must be between 1024 and 65535, got %d", c.Port))
	}
	for _, m := range c.Mount {
		if _, err := meta.ParseMount(m); err != nil {
			return ops.StartOptions{}, errInvalidFlag(fmt.Sprintf("--mount %s: %v", m, err))
		}
	}
	return ops.StartOptions{Port: c.Port, Mounts: c.Mount, NoMounts: c.NoMounts, Image: action,
		IgnoreVersion: c.IgnoreVersion, NoUpdateCheck: c.NoUpdateCheck, Yes: c.Yes}, nil
}

func (c *StartCmd) Run(ctx context.Context, app *App) error {
	o, err := c.options()
	if err != nil {
		return err
	}
	res, err := app.ops().Start(ctx, o)
	if err != nil {
		return err
	}
	defer res.Close()
	switch {
	case c.JSON:
		if err := writeJSON(app.UI.Out, res); err != nil {
			return err
		}
	case app.UI.Quiet:
		fmt.Fprintln(app.UI.Out, res.URL)
	default:
		renderRunning(app, res.Running, c.Open)
	}
	if c.Open {
		openBrowser(app, res.URL)
	}
	if !c.NoDaemon {
		return nil
	}
	return res.Supervise(ctx)
}

// browserURL is url as a browser should open it: loopback and wildcard
// addresses as localhost (passkeys want a localhost origin), as upstream.
func browserURL(url string) string {
	for _, h := range []string{"127.0.0.1", "0.0.0.0", "[::1]", "[::]"} {
		if strings.Contains(url, "//"+h+":") || strings.HasSuffix(url, "//"+h) {
			return strings.Replace(url, "//"+h, "//localhost", 1)
		}
	}
	return url
}

// openBrowser opens url with xdg-open when it is there, best effort.
func openBrowser(app *App, url string) {
	url = browserURL(url)
	p, err := exec.LookPath("xdg-open")
	if err != nil {
		app.UI.Warnf("cannot open a browser (no xdg-open); open %s yourself", url)
		return
	}
	if err := exec.Command(p, url).Start(); err != nil {
		app.UI.Warnf("cannot open a browser: %v; open %s yourself", err, url)
	}
}
