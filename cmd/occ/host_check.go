package main

import (
	"context"
	"fmt"

	"github.com/opencode-cloud/occ/pkg/remote"
)

// HostTestCmd connects to a remote host, checks its host key, finds occ
// there (offering to install it) and runs `occ version` there.
type HostTestCmd struct {
	Name string `arg:"" help:"The host to test."`
	Yes  bool   `short:"y" help:"Install this occ on the host without asking when it has none (or an older one occ installed)."`
}

func (c *HostTestCmd) Run(ctx context.Context, app *App) error {
	hs, err := app.loadHosts()
	if err != nil {
		return err
	}
	h, err := hs.Get(c.Name)
	if err != nil {
		return err
	}
	conn, err := remote.Open(ctx, c.Name, h, app.dialOptions(c.Name), app.installPolicy(c.Name, c.Yes))
	if err != nil {
		return err
	}
	defer conn.Close()
	app.UI.Infof("Connected to %s (%s), host key verified; occ %s at %s.", c.Name, conn.Occ.Uname, conn.Occ.Version, conn.Occ.Path)
	prefix := "[" + c.Name + "] "
	code, err := conn.Run(ctx, remote.RunOptions{Args: []string{"version"},
		Stdout: &remote.PrefixWriter{W: app.UI.Out, Prefix: prefix}, Stderr: &remote.PrefixWriter{W: app.UI.Err, Prefix: prefix}})
	if err != nil {
		return err
	}
	if code != 0 {
		return fmt.Errorf("occ version on %s exited with %d", c.Name, code)
	}
	app.UI.Successf("Host %s works.", c.Name)
	return nil
}
