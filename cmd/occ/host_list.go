package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"text/tabwriter"
)

// HostListCmd lists the remote hosts of hosts.json.
type HostListCmd struct {
	Group     string `short:"g" help:"Only the hosts of this group."`
	NamesOnly bool   `name:"names-only" help:"Print only the names, one a line."`
	JSON      bool   `name:"json" help:"Print the hosts as JSON."`
}

// hostListJSON is `occ host list --json`.
type hostListJSON struct {
	DefaultHost *string    `json:"default_host"`
	Hosts       []hostJSON `json:"hosts"`
}

func (c *HostListCmd) wantsJSON() bool { return c.JSON }

func (c *HostListCmd) Run(ctx context.Context, app *App) error {
	hs, err := app.loadHosts()
	if err != nil {
		return err
	}
	names := hs.Names(c.Group)
	switch {
	case c.JSON:
		out := hostListJSON{DefaultHost: hs.DefaultHost, Hosts: []hostJSON{}}
		for _, n := range names {
			out.Hosts = append(out.Hosts, hostJSON{Name: n, Default: n == hs.Default(), Host: hs.Hosts[n]})
		}
		return writeJSON(app.UI.Out, out)
	case c.NamesOnly:
		for _, n := range names {
			fmt.Fprintln(app.UI.Out, n)
		}
		return nil
	case len(names) == 0:
		if c.Group != "" {
			app.UI.Infof("No hosts in group %s.", c.Group)
		} else {
			app.UI.Infof("No remote hosts yet: add one with `occ host add NAME HOSTNAME`.")
		}
		return nil
	}
	tw := tabwriter.NewWriter(app.UI.Out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tHOSTNAME\tUSER\tPORT\tGROUPS\tDESCRIPTION")
	for _, n := range names {
		h := hs.Hosts[n]
		mark := ""
		if n == hs.Default() {
			mark = " (default)"
		}
		fmt.Fprintf(tw, "%s%s\t%s\t%s\t%s\t%s\t%s\n", n, mark, h.Hostname, h.UserOr("-"), strconv.Itoa(h.PortOr22()),
			orDash(strings.Join(h.Groups, ",")), orDash(deref(h.Description)))
	}
	return tw.Flush()
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
