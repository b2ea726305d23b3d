package main

import (
	"context"
	"fmt"
	"text/tabwriter"

	"github.com/opencode-cloud/occ/pkg/runtime"
)

// UserListCmd lists the user records (the sandbox restores its accounts
// from them, so this is right whether it runs or not).
type UserListCmd struct {
	kubeSwitch
}

func (c *UserListCmd) Run(ctx context.Context, app *App) error {
	if kc, _, err := c.kubeClient(app); err != nil || kc != nil {
		return orKube(err, func() error { return kubeUserList(ctx, app, kc) })
	}
	cfg, _, err := app.LoadConfig()
	if err != nil {
		return err
	}
	records, listErr := runtime.ListUserRecords(usersDir(cfg, app.Paths))
	if app.Globals.Quiet { // names only, for scripts
		for _, r := range records {
			fmt.Fprintln(app.UI.Out, r.Username)
		}
		return listErr
	}
	if len(records) == 0 && listErr == nil {
		app.UI.Infof("No users yet: nobody can log in to the sandbox. Add one with 'occ user add NAME'.")
		return nil
	}
	if len(records) > 0 {
		tw := tabwriter.NewWriter(app.UI.Out, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "USERNAME\tSTATUS")
		for _, r := range records {
			status := "enabled"
			if r.Locked {
				status = "disabled"
			}
			fmt.Fprintf(tw, "%s\t%s\n", r.Username, status)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	if listErr != nil {
		app.UI.Warnf("some user records could not be read:")
		return listErr
	}
	return nil
}
