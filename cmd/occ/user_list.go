package main

import (
	"context"
	"fmt"
	"text/tabwriter"
)

// UserListCmd lists the user records (the sandbox restores its accounts
// from them, so this is right whether it runs or not).
type UserListCmd struct {
	JSON bool `name:"json" help:"Print the users as JSON."`
	kubeSwitch
}

func (c *UserListCmd) Run(ctx context.Context, app *App) error {
	if kc, _, err := c.kubeClient(app); err != nil || kc != nil {
		return orKube(err, func() error { return kubeUserList(ctx, app, kc) })
	}
	users, listErr := app.ops().UserList()
	if users == nil && listErr != nil {
		return listErr
	}
	switch {
	case c.JSON:
		if err := writeJSON(app.UI.Out, userListJSON{Users: users}); err != nil || listErr == nil {
			return err
		}
		// One document on stdout: the users read; the error on stderr.
		app.UI.PrintError(listErr)
		return silentExit{code: exitFailure}
	case app.UI.Quiet: // names only, for scripts
		for _, u := range users {
			fmt.Fprintln(app.UI.Out, u.Username)
		}
		return listErr
	case len(users) == 0 && listErr == nil:
		app.UI.Infof("No users yet: nobody can log in to the sandbox. Add one with 'occ user add NAME'.")
		return nil
	}
	if len(users) > 0 {
		tw := tabwriter.NewWriter(app.UI.Out, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "USERNAME\tSTATUS")
		for _, u := range users {
			status := "enabled"
			if !u.Enabled {
				status = "disabled"
			}
			fmt.Fprintf(tw, "%s\t%s\n", u.Username, status)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	if listErr != nil {
		app.UI.Warnf("some user records could not be read:")
	}
	return listErr
}
