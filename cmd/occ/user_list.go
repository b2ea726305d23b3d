package main

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"

	"github.com/opencode-cloud/occ/pkg/ops"
)

// UserListCmd lists the user records (the sandbox restores its accounts
// from them, so this is right whether it runs or not).
type UserListCmd struct {
	JSON bool `name:"json" help:"Print the users as JSON."`
	kubeSwitch
}

func (c *UserListCmd) Run(ctx context.Context, app *App) error {
	if kc, _, err := c.kubeClient(app); err != nil || kc != nil {
		return orKube(err, func() error { return kubeUserList(ctx, app, kc, c.JSON) })
	}
	users, listErr := app.ops().UserList(ctx)
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
		if err := renderUsers(app.UI.Out, users); err != nil {
			return err
		}
	}
	if listErr != nil {
		app.UI.Warnf("some user records could not be read:")
	}
	return listErr
}

// renderUsers is upstream's table: Username, Status, UID, Home, Shell; the
// last three are the accounts in the running sandbox ("-" while it does
// not run or has not restored the account yet).
func renderUsers(w io.Writer, users []ops.UserInfo) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "USERNAME\tSTATUS\tUID\tHOME\tSHELL")
	for _, u := range users {
		status := "enabled"
		if !u.Enabled {
			status = "disabled"
		}
		uid, home, shell := "-", orDash(u.Home), orDash(u.Shell)
		if u.UID != nil {
			uid = strconv.FormatUint(uint64(*u.UID), 10)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", u.Username, status, uid, home, shell)
	}
	return tw.Flush()
}
