package main

import (
	"fmt"

	"github.com/containerd/errdefs"

	"github.com/opencode-cloud/occ/pkg/ops"
)

// UserCmd manages the sandbox's login users. Each user is a record in the
// users volume (the source of truth, restored by the image at every start);
// when the sandbox is running the change is also applied in it at once.
type UserCmd struct {
	Add     UserAddCmd     `cmd:"" help:"Add a login user (password from a prompt, stdin, or --generate)."`
	Remove  UserRemoveCmd  `cmd:"" aliases:"rm" help:"Remove a login user."`
	List    UserListCmd    `cmd:"" aliases:"ls" help:"List the login users and whether they are enabled."`
	Passwd  UserPasswdCmd  `cmd:"" help:"Set a user's password."`
	Enable  UserEnableCmd  `cmd:"" help:"Let a disabled user log in again."`
	Disable UserDisableCmd `cmd:"" help:"Stop a user from logging in (the record is kept)."`
}

// passwordFlags are add's and passwd's.
type passwordFlags struct {
	Generate          bool `short:"g" help:"Generate a random password and print it once."`
	PrintPasswordOnly bool `name:"print-password-only" help:"With --generate: print only the password (for scripts)."`
}

// check refuses flag combinations that make no sense.
func (f passwordFlags) check() error {
	if f.PrintPasswordOnly && !f.Generate {
		return errdefs.ErrInvalidArgument.WithMessage("--print-password-only needs --generate")
	}
	return nil
}

// options are the operation's: a generated password is printed once, even
// with -q: it is the only place it appears.
func (f passwordFlags) options(app *App) ops.PasswordOptions {
	return ops.PasswordOptions{Generate: f.Generate, Show: func(name, pw string) {
		if f.PrintPasswordOnly {
			fmt.Fprintln(app.UI.Out, pw)
			return
		}
		fmt.Fprintf(app.UI.Out, "Password for %s: %s\n", name, pw)
		app.UI.Infof("This password is shown only once: keep it somewhere safe.")
	}}
}
