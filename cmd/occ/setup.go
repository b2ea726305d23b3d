package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/containerd/errdefs"

	"github.com/opencode-cloud/occ/pkg/meta"
	"github.com/opencode-cloud/occ/pkg/ops"
	"github.com/opencode-cloud/occ/pkg/runtime"
)

// SetupCmd configures occ: an interactive wizard on a terminal, or, with
// --yes, the same settings from flags for scripts. Nothing is written until
// the end; the config is saved under occ's lock.
type SetupCmd struct {
	Yes           bool   `short:"y" help:"Do not prompt: apply the flags (and the defaults) and save, for scripts."`
	ImageSource   string `name:"image-source" placeholder:"prebuilt|build" help:"Where the sandbox image comes from: prebuilt (pull, ~2 min) or build (from source, 30-60 min)."`
	Port          int    `short:"p" placeholder:"PORT" help:"Host port for the web UI (1024-65535)."`
	BindAddress   string `name:"bind-address" placeholder:"ADDR" help:"Host address the web UI is published on: 127.0.0.1 (this machine only), 0.0.0.0 (every interface: exposed to the network), or another address of this host."`
	User          string `placeholder:"NAME" help:"Create this login user (the password is read from stdin with --password-stdin, or prompted for)."`
	PasswordStdin bool   `name:"password-stdin" help:"With --yes --user: read the user's password from the first line of stdin (it is never taken from the command line)."`
	Start         bool   `xor:"start" help:"Start the service once the configuration is saved."`
	NoStart       bool   `name:"no-start" xor:"start" help:"Do not start the service (and do not ask)."`

	// then is the command the first-run wizard runs before (firstRun):
	// no "Start the service with" hint then.
	then string
}

// setupPlan is what setup will write: the settings, and the first user.
type setupPlan struct {
	ImageSource string
	Port        int
	BindAddress string
	User        string
	Password    string // never printed, never written except as a hash
	// SetMounts: Mounts (comma-joined) replaces the configured mounts;
	// CreateMountDirs: their missing host directories are made (0700) on
	// save (the default persistence mounts).
	SetMounts       bool
	Mounts          string
	CreateMountDirs bool
}

// after is what setup does once the config is saved.
type after int

const (
	afterNothing after = iota
	afterStart
	afterRestart
)

// errSetupCancelled ends the wizard on Esc, Ctrl-C or a closed terminal.
// Nothing was written: the message says so, and occ exits 130 like any
// interrupted command.
var errSetupCancelled = errors.New("setup cancelled")

const setupCancelledMsg = "Setup cancelled; nothing was changed."

// setupFlagsHelp names the flags for the no-terminal error.
const setupFlagsHelp = "--image-source prebuilt|build, --port N, --bind-address ADDR, --user NAME --password-stdin, --start|--no-start"

func (c *SetupCmd) Run(ctx context.Context, app *App) error {
	if err := c.check(); err != nil {
		return err
	}
	if !c.Yes && !app.Interactive {
		return errdefs.ErrFailedPrecondition.WithMessage(
			"occ setup asks its questions on a terminal, but occ is not running on one (or -q was given): " +
				"run it on a terminal, or pass --yes with the settings as flags (" + setupFlagsHelp + ")")
	}
	cfg, exists, err := app.LoadConfig()
	if err != nil {
		return err
	}
	var (
		plan setupPlan
		then after
	)
	if c.Yes {
		if plan, err = c.planFromFlags(app, cfg); err != nil {
			return err
		}
		if c.Start {
			then = afterStart
		}
	} else {
		w := newWizard(ctx, app, c, cfg, exists)
		plan, then, err = w.run()
		if errors.Is(err, errSetupCancelled) {
			fmt.Fprintln(app.UI.Err, setupCancelledMsg)
			return silentExit{code: exitInterrupted}
		}
		if err != nil || plan == (setupPlan{}) { // error, or nothing to do
			return err
		}
	}

	saved, err := saveSetup(ctx, app, plan)
	if err != nil {
		return err
	}
	if meta.IsExposed(saved.BindAddress) {
		app.UI.Warnf("WARNING: Network exposure enabled! The web UI will answer on %s:%d for anyone who can reach this host. Make sure users are set up (occ user add) and consider a TLS reverse proxy.",
			saved.BindAddress, saved.OpencodeWebPort)
	}
	if len(saved.Users) == 0 && !saved.AllowUnauthenticatedNetwork {
		app.UI.Warnf("no login user is configured, so occ start will refuse to start: add one with occ user add NAME (or occ setup --yes --user NAME --password-stdin).")
	}
	switch then {
	case afterStart:
		return (&StartCmd{Yes: c.Yes}).Run(ctx, app)
	case afterRestart:
		return (&RestartCmd{Yes: true}).Run(ctx, app)
	}
	if c.then == "" {
		app.UI.Infof("Start the service with: occ start")
	}
	return nil
}

// check refuses flag values and combinations that make no sense, before
// anything is read or asked.
func (c *SetupCmd) check() error {
	if c.ImageSource != "" && c.ImageSource != meta.SourcePrebuilt && c.ImageSource != meta.SourceBuild {
		return errInvalidFlag(fmt.Sprintf("--image-source must be %s or %s, got %q", meta.SourcePrebuilt, meta.SourceBuild, c.ImageSource))
	}
	if c.Port != 0 {
		if err := validatePort(strconv.Itoa(c.Port)); err != nil {
			return errInvalidFlag("--port: " + err.Error())
		}
	}
	if c.BindAddress != "" {
		if _, err := meta.ParseBindAddress(c.BindAddress); err != nil {
			return errInvalidFlag("--bind-address: " + err.Error())
		}
	}
	if c.User != "" {
		if err := ops.CheckUsername(c.User); err != nil {
			return fmt.Errorf("--user: %w", err)
		}
	}
	switch {
	case c.PasswordStdin && c.User == "":
		return errInvalidFlag("--password-stdin needs --user NAME")
	case c.PasswordStdin && !c.Yes:
		return errInvalidFlag("--password-stdin needs --yes (the wizard asks for the password on the terminal)")
	case c.Yes && c.User != "" && !c.PasswordStdin:
		return errInvalidFlag("--yes --user " + c.User + " needs --password-stdin: the password is read from stdin, never from a flag")
	}
	return nil
}

// planFromFlags is --yes: the flags over the current config.
func (c *SetupCmd) planFromFlags(app *App, cfg *meta.Config) (setupPlan, error) {
	p := setupPlan{ImageSource: cfg.ImageSource, Port: cfg.OpencodeWebPort, BindAddress: cfg.BindAddress}
	if c.ImageSource != "" {
		p.ImageSource = c.ImageSource
	}
	if c.Port != 0 {
		p.Port = c.Port
	}
	if c.BindAddress != "" {
		p.BindAddress = c.BindAddress
	}
	if c.User != "" {
		if err := checkNewUser(cfg, app.Paths, c.User); err != nil {
			return p, err
		}
		pw, err := app.ReadSecret("Password", false)
		if err != nil {
			return p, err
		}
		if err := runtime.ValidatePassword(pw); err != nil {
			return p, err
		}
		p.User, p.Password = c.User, pw
	}
	check := *cfg
	check.Users = slices.Clone(cfg.Users)
	if err := p.applyTo(&check); err != nil {
		return p, err
	}
	if err := runtime.CheckPortFree(portCheckHost(p.BindAddress), p.Port); err != nil {
		app.UI.Warnf("%v (occ start needs it free)", err)
	}
	return p, nil
}

// applyTo writes the plan's settings into cfg, validating each as
// `occ config set` does. The legacy `bind` key is never touched: only
// bind_address decides the binding.
func (p setupPlan) applyTo(cfg *meta.Config) error {
	set := func(name, value string) error {
		k, err := meta.LookupKey(name)
		if err != nil {
			return err
		}
		return cfg.Set(k, value)
	}
	if err := set("image_source", p.ImageSource); err != nil {
		return err
	}
	if err := set("opencode_web_port", strconv.Itoa(p.Port)); err != nil {
		return err
	}
	if err := set("bind_address", p.BindAddress); err != nil {
		return err
	}
	if p.SetMounts {
		if err := set("mounts", p.Mounts); err != nil {
			return err
		}
	}
	if p.User != "" && !slices.Contains(cfg.Users, p.User) {
		cfg.Users = append(cfg.Users, p.User)
	}
	return nil
}

// validatePort checks a port typed or given as a flag.
func validatePort(s string) error {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil {
		return fmt.Errorf("%q is not a port number", s)
	}
	if n < 1024 || n > 65535 {
		return fmt.Errorf("the port must be between 1024 and 65535 (non-privileged), got %d", n)
	}
	return nil
}

// portCheckHost is the address to test a port on for a bind address:
// "localhost" is 127.0.0.1; an unparsable one falls back to 127.0.0.1.
func portCheckHost(bind string) string {
	ip, err := meta.ParseBindAddress(bind)
	if err != nil {
		return "127.0.0.1"
	}
	return ip.String()
}

// checkNewUser refuses a name that cannot be added: invalid, reserved, or
// already recorded.
func checkNewUser(cfg *meta.Config, paths meta.Paths, name string) error {
	if err := ops.CheckUsername(name); err != nil {
		return err
	}
	if _, err := runtime.ReadUserRecord(ops.UsersDir(cfg, paths), name); err == nil {
		return errdefs.ErrAlreadyExists.WithMessage(fmt.Sprintf("user %s already exists: choose another name, or change its password with 'occ user passwd %s'", name, name))
	} else if !errdefs.IsNotFound(err) {
		return err
	}
	return nil
}

// saveSetup writes the plan under occ's lock, the way `occ user add` does:
// the user's record (password hashed) into the users volume, then the
// config (atomically, keeping the previous file as .bak). A running sandbox
// gets the new user at once.
func saveSetup(ctx context.Context, app *App, p setupPlan) (*meta.Config, error) {
	s, err := app.ops().BeginUserChange(ctx)
	if err != nil {
		return nil, err
	}
	defer s.End()
	if err := p.applyTo(s.Config); err != nil {
		return nil, err
	}
	if p.User != "" {
		s.Dir = ops.UsersDir(s.Config, app.Paths)
		if err := checkNewUser(s.Config, app.Paths, p.User); err != nil {
			return nil, err
		}
		rec, err := runtime.NewUserRecord(p.User, p.Password)
		if err != nil {
			return nil, err
		}
		if err := runtime.WriteUserRecord(s.Dir, rec); err != nil {
			return nil, err
		}
	}
	if p.CreateMountDirs {
		if err := makeMountDirs(s.Config.Mounts); err != nil {
			return nil, err
		}
	}
	if err := meta.SaveConfig(app.Paths.ConfigFile, s.Config); err != nil {
		return nil, err
	}
	app.UI.Successf("Configuration saved to %s", app.Paths.ConfigFile)
	if p.User != "" {
		app.UI.Successf("Added user %s.", p.User)
		if err := s.Apply(ctx, p.User, "adding "+p.User); err != nil {
			return nil, err
		}
	}
	return s.Config, nil
}

// makeMountDirs makes the missing host directories of mounts (0700, as
// the user running occ), so that the default persistence mounts work on
// the first start.
func makeMountDirs(mounts []string) error {
	for _, spec := range mounts {
		m, err := meta.ParseMount(spec)
		if err != nil {
			return err
		}
		if err := os.MkdirAll(m.Source, 0o700); err != nil {
			return fmt.Errorf("create the host directory of mount %s: %w", spec, err)
		}
	}
	return nil
}
