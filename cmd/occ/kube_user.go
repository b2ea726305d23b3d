package main

import (
	"context"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/containerd/errdefs"

	"github.com/opencode-cloud/occ/pkg/kube"
	"github.com/opencode-cloud/occ/pkg/meta"
	"github.com/opencode-cloud/occ/pkg/ops"
	"github.com/opencode-cloud/occ/pkg/runtime"
)

// kubeSwitch is --kube on occ user … and occ update: act on the sandbox on
// the cluster (as target kube in the config does) instead of this host's.
type kubeSwitch struct {
	Kube bool `help:"Act on the sandbox on the Kubernetes cluster (docs/kubernetes.md); the default with target kube in the config."`
	kubeFlags
}

// kubeClient is the cluster's client when --kube or target kube says so,
// else nil.
func (k kubeSwitch) kubeClient(app *App) (*kube.Client, *meta.Config, error) {
	cfg, _, err := app.LoadConfig()
	if err != nil {
		return nil, nil, err
	}
	if !k.Kube && !cfg.IsKube() {
		return nil, cfg, nil
	}
	kc, err := k.connect(cfg)
	return kc, cfg, err
}

// kubeUserWait bounds how long a user change waits for the pod's copy of
// the Secret.
const kubeUserWait = 2 * time.Minute

// reportKubeUser says where the change landed.
func reportKubeUser(app *App, kc *kube.Client, applied bool, what string) {
	if applied {
		app.UI.Successf("%s in the running pod (namespace %s, no restart).", what, kc.Namespace)
		return
	}
	app.UI.Successf("%s in the users Secret of namespace %s (no running pod: it applies at start).", what, kc.Namespace)
}

func kubeUserAdd(ctx context.Context, app *App, kc *kube.Client, c *UserAddCmd, name string) error {
	name, err := app.ops().AskUsername(name)
	if err != nil {
		return err
	}
	if err := ops.CheckUsername(name); err != nil {
		return err
	}
	users, err := kc.Users(ctx)
	if err != nil {
		return err
	}
	for _, u := range users {
		if u.Username == name {
			return errdefs.ErrAlreadyExists.WithMessage(fmt.Sprintf("user %s already exists: change the password with 'occ user passwd %s --kube'", name, name))
		}
	}
	pw, generated, err := app.ops().Password(name, c.options(app))
	if err != nil {
		return err
	}
	rec, err := runtime.NewUserRecord(name, pw)
	if err != nil {
		return err
	}
	_, applied, err := kc.ChangeUser(ctx, name, func(_ runtime.UserRecord, ok bool) (*runtime.UserRecord, error) {
		if ok {
			return nil, errdefs.ErrAlreadyExists.WithMessage(fmt.Sprintf("user %s already exists", name))
		}
		return &rec, nil
	}, kubeUserWait)
	if generated {
		c.options(app).Show(name, pw)
	}
	if err != nil {
		return err
	}
	if !c.PrintPasswordOnly {
		reportKubeUser(app, kc, applied, "Added user "+name)
	}
	return nil
}

func kubeUserPasswd(ctx context.Context, app *App, kc *kube.Client, c *UserPasswdCmd, name string) error {
	pw, generated, err := app.ops().Password(name, c.options(app))
	if err != nil {
		return err
	}
	hash, err := runtime.HashPassword(pw)
	if err != nil {
		return err
	}
	_, applied, err := kc.ChangeUser(ctx, name, func(cur runtime.UserRecord, ok bool) (*runtime.UserRecord, error) {
		if !ok {
			return nil, errdefs.ErrNotFound.WithMessage(fmt.Sprintf("no user %s on the cluster: add it with 'occ user add %s --kube'", name, name))
		}
		cur.PasswordHash = hash
		return &cur, nil
	}, kubeUserWait)
	if generated && err == nil {
		c.options(app).Show(name, pw)
	}
	if err != nil {
		return err
	}
	if !c.PrintPasswordOnly {
		reportKubeUser(app, kc, applied, "Changed the password of "+name)
	}
	return nil
}

func kubeUserRemove(ctx context.Context, app *App, kc *kube.Client, name string, force bool) error {
	_, applied, err := kc.ChangeUser(ctx, name, func(_ runtime.UserRecord, ok bool) (*runtime.UserRecord, error) {
		if !ok {
			return nil, errdefs.ErrNotFound.WithMessage(fmt.Sprintf("no user %s on the cluster", name))
		}
		return nil, nil
	}, kubeUserWait)
	if err != nil {
		return err
	}
	reportKubeUser(app, kc, applied, "Removed user "+name)
	return nil
}

func kubeUserLocked(ctx context.Context, app *App, kc *kube.Client, name string, locked bool) error {
	_, applied, err := kc.ChangeUser(ctx, name, func(cur runtime.UserRecord, ok bool) (*runtime.UserRecord, error) {
		if !ok {
			return nil, errdefs.ErrNotFound.WithMessage(fmt.Sprintf("no user %s on the cluster", name))
		}
		cur.Locked = locked
		return &cur, nil
	}, kubeUserWait)
	if err != nil {
		return err
	}
	verb := "Enabled"
	if locked {
		verb = "Disabled"
	}
	reportKubeUser(app, kc, applied, verb+" "+name)
	return nil
}

func kubeUserList(ctx context.Context, app *App, kc *kube.Client, asJSON bool) error {
	users, err := kc.Users(ctx)
	if err != nil {
		return err
	}
	if asJSON {
		return writeJSON(app.UI.Out, kubeUsersJSON(users))
	}
	if app.Globals.Quiet {
		for _, r := range users {
			fmt.Fprintln(app.UI.Out, r.Username)
		}
		return nil
	}
	if len(users) == 0 {
		app.UI.Infof("No users on the cluster (namespace %s): add one with 'occ user add NAME --kube'.", kc.Namespace)
		return nil
	}
	tw := tabwriter.NewWriter(app.UI.Out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "USERNAME\tSTATUS")
	for _, r := range users {
		status := "enabled"
		if r.Locked {
			status = "disabled"
		}
		fmt.Fprintf(tw, "%s\t%s\n", r.Username, status)
	}
	return tw.Flush()
}

// kubeUsersJSON is occ user list --json's object for the Secret's records:
// no uid, home or shell (the Secret does not know the pod's accounts).
func kubeUsersJSON(records []runtime.UserRecord) userListJSON {
	users := make([]ops.UserInfo, 0, len(records))
	for _, r := range records {
		users = append(users, ops.UserInfo{Username: r.Username, Enabled: !r.Locked})
	}
	return userListJSON{Users: users}
}

// orKube returns err, or runs the kube branch when there is none.
func orKube(err error, run func() error) error {
	if err != nil {
		return err
	}
	return run()
}
