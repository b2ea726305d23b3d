package ops

import (
	"context"
	"fmt"
	"time"

	"github.com/containerd/errdefs"

	"github.com/opencode-cloud/occ/pkg/runtime"
)

// UserChange is what a user command did.
type UserChange struct {
	Username string `json:"username"`
	// Changed is false when nothing needed doing (already enabled, …).
	Changed bool `json:"changed"`
	// Generated: the password was generated (and given to Show).
	Generated bool `json:"generated,omitempty"`
	// NoUsersLeft: the last user was removed; nobody can log in.
	NoUsersLeft bool `json:"no_users_left,omitempty"`
}

// UserAdd adds a login user: occ hashes the password, writes the record
// into the users volume and, when the sandbox runs, applies it at once. An
// empty name is asked for (default admin) on a terminal.
func (e *Env) UserAdd(ctx context.Context, name string, o PasswordOptions) (*UserChange, error) {
	name, err := e.askUsername(name)
	if err != nil {
		return nil, err
	}
	return e.changeUser(ctx, name, func(s *UserSession) (*UserChange, error) {
		if _, err := runtime.ReadUserRecord(s.Dir, name); err == nil {
			return nil, errdefs.ErrAlreadyExists.WithMessage(fmt.Sprintf("user %s already exists: change the password with 'occ user passwd %s'", name, name))
		} else if !errdefs.IsNotFound(err) {
			return nil, err
		}
		pw, generated, err := e.password(name, o)
		if err != nil {
			return nil, err
		}
		rec, err := runtime.NewUserRecord(name, pw)
		if err != nil {
			return nil, err
		}
		if err := runtime.WriteUserRecord(s.Dir, rec); err != nil {
			return nil, err
		}
		return e.finishUserChange(ctx, s, name, "adding "+name, generated, pw, o)
	})
}

// finishUserChange lists the user in the config, shows a generated
// password and applies the record in the sandbox.
func (e *Env) finishUserChange(ctx context.Context, s *UserSession, name, what string, generated bool, pw string, o PasswordOptions) (*UserChange, error) {
	if err := s.SetConfigUser(name, true); err != nil {
		return nil, err
	}
	if generated && o.Show != nil {
		o.Show(name, pw)
	}
	if err := s.Apply(ctx, name, what); err != nil {
		return nil, err
	}
	return &UserChange{Username: name, Changed: true, Generated: generated}, nil
}

// askUsername is name, or the name typed at the prompt (default admin).
func (e *Env) askUsername(name string) (string, error) {
	if name != "" {
		return name, nil
	}
	if !e.Prompt.CanPrompt() {
		return "", errdefs.ErrInvalidArgument.WithMessage("no username given: occ user add NAME")
	}
	name, err := e.Prompt.Line("Username", "admin", "NAME")
	if errdefs.IsAborted(err) {
		return "", errdefs.ErrAborted.WithMessage("no username given")
	}
	return name, err
}

// UserPasswd sets an existing user's password (its enabled/disabled state
// is kept); it also repairs a broken record.
func (e *Env) UserPasswd(ctx context.Context, name string, o PasswordOptions) (*UserChange, error) {
	return e.changeUser(ctx, name, func(s *UserSession) (*UserChange, error) {
		if _, err := runtime.ReadUserRecord(s.Dir, name); errdefs.IsNotFound(err) {
			return nil, errdefs.ErrNotFound.WithMessage(fmt.Sprintf("user %s does not exist: add it with 'occ user add %s' (see 'occ user list')", name, name))
		} else if err != nil && !errdefs.IsDataLoss(err) { // a broken record is what passwd repairs
			return nil, err
		}
		pw, generated, err := e.password(name, o)
		if err != nil {
			return nil, err
		}
		if _, err := runtime.SetUserPassword(s.Dir, name, pw); err != nil {
			return nil, err
		}
		return e.finishUserChange(ctx, s, name, "the new password of "+name, generated, pw, o)
	})
}

// UserRemove removes a login user: its record, its entry in the config and
// (when the sandbox runs) its account. force skips the question and lets
// the last user go.
func (e *Env) UserRemove(ctx context.Context, name string, force bool) (*UserChange, error) {
	return e.changeUser(ctx, name, func(s *UserSession) (*UserChange, error) {
		records, listErr := runtime.ListUserRecords(s.Dir)
		_, recErr := runtime.ReadUserRecord(s.Dir, name)
		if recErr != nil && !errdefs.IsDataLoss(recErr) { // a broken record can be removed
			if !errdefs.IsNotFound(recErr) {
				return nil, recErr
			}
			if err := s.SetConfigUser(name, false); err != nil { // only listed in the config
				return nil, err
			}
			return nil, errdefs.ErrNotFound.WithMessage(fmt.Sprintf("user %s does not exist (see 'occ user list')", name))
		}
		others := 0
		for _, r := range records {
			if r.Username != name {
				others++
			}
		}
		if err := e.confirmRemove(name, others == 0 && listErr == nil, force); err != nil {
			return nil, err
		}
		if err := runtime.RemoveUserRecord(s.Dir, name); err != nil {
			return nil, err
		}
		if err := s.SetConfigUser(name, false); err != nil {
			return nil, err
		}
		if err := s.Apply(ctx, name, "removing "+name); err != nil {
			return nil, err
		}
		return &UserChange{Username: name, Changed: true, NoUsersLeft: others == 0}, nil
	})
}

// confirmRemove refuses to remove the last user without force, and asks
// before any removal without it.
func (e *Env) confirmRemove(name string, last, force bool) error {
	if force {
		return nil
	}
	if last {
		return errdefs.ErrFailedPrecondition.WithMessage(fmt.Sprintf(
			"%s is the last user: without users nobody can log in to the sandbox; pass --force to remove it anyway", name))
	}
	ok, err := e.Prompt.Confirm(fmt.Sprintf("Remove user %s?", name), false, "--force")
	if err != nil {
		return err
	}
	if !ok {
		return errdefs.ErrAborted.WithMessage("nothing was removed")
	}
	return nil
}

// UserSetLocked disables (locked) or enables a user. The record is applied
// in the sandbox even when unchanged: that repairs a sandbox that missed a
// change.
func (e *Env) UserSetLocked(ctx context.Context, name string, locked bool) (*UserChange, error) {
	return e.changeUser(ctx, name, func(s *UserSession) (*UserChange, error) {
		verb, state := "enabling", "enabled"
		if locked {
			verb, state = "disabling", "disabled"
		}
		r, err := runtime.ReadUserRecord(s.Dir, name)
		if errdefs.IsNotFound(err) {
			return nil, errdefs.ErrNotFound.WithMessage(fmt.Sprintf("user %s does not exist (see 'occ user list')", name))
		} else if err != nil {
			return nil, err
		}
		changed := r.Locked != locked
		if !changed {
			e.Report.Infof("User %s is already %s.", name, state)
		} else if _, err := runtime.SetUserLocked(s.Dir, name, locked); err != nil {
			return nil, err
		}
		if err := s.SetConfigUser(name, true); err != nil {
			return nil, err
		}
		if err := s.Apply(ctx, name, verb+" "+name); err != nil {
			return nil, err
		}
		return &UserChange{Username: name, Changed: changed}, nil
	})
}

// UserInfo is one login user as `occ user list` shows it. UID, Home and
// Shell are the account's in the running sandbox (unset while it does not
// run, or before the sandbox has restored the account).
type UserInfo struct {
	Username string  `json:"username"`
	Enabled  bool    `json:"enabled"`
	UID      *uint32 `json:"uid,omitempty"`
	Home     string  `json:"home,omitempty"`
	Shell    string  `json:"shell,omitempty"`
}

// UserList lists the user records (the sandbox restores its accounts from
// them, so this is right whether it runs or not), with each account's
// UID, home and shell when the sandbox runs. With records that could not
// be read it returns those it could and the error.
func (e *Env) UserList(ctx context.Context) ([]UserInfo, error) {
	cfg, err := e.LoadConfig()
	if err != nil {
		return nil, err
	}
	records, listErr := runtime.ListUserRecords(UsersDir(cfg, e.Paths))
	users := make([]UserInfo, 0, len(records))
	for _, r := range records {
		users = append(users, UserInfo{Username: r.Username, Enabled: !r.Locked})
	}
	if len(users) > 0 {
		e.addAccounts(ctx, users)
	}
	return users, listErr
}

// accountsTimeout bounds reading the sandbox's accounts for a list.
const accountsTimeout = 10 * time.Second

// addAccounts fills in the accounts of a running sandbox; what cannot be
// read is left out (and said with -v): the records are the list.
func (e *Env) addAccounts(ctx context.Context, users []UserInfo) {
	ctx, cancel := context.WithTimeout(ctx, accountsTimeout)
	defer cancel()
	s, err := e.Open(ctx, OpenOptions{})
	if err != nil {
		e.Report.Verbosef("sandbox accounts: %v", err)
		return
	}
	defer s.Close()
	if !s.Running() {
		return
	}
	accounts, err := s.Sandbox.Accounts(ctx)
	if err != nil {
		e.Report.Verbosef("sandbox accounts: %v", err)
		return
	}
	for i := range users {
		if a, ok := accounts[users[i].Username]; ok {
			uid := a.UID
			users[i].UID, users[i].Home, users[i].Shell = &uid, a.Home, a.Shell
		}
	}
}

// changeUser is every user change's preamble: the name checked (before
// anything is locked or read), occ's lock, the config and the records.
func (e *Env) changeUser(ctx context.Context, name string, change func(s *UserSession) (*UserChange, error)) (*UserChange, error) {
	if err := CheckUsername(name); err != nil {
		return nil, err
	}
	s, err := e.BeginUserChange(ctx)
	if err != nil {
		return nil, err
	}
	defer s.End()
	return change(s)
}
