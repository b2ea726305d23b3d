package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"

	"charm.land/bubbles/v2/key"
	"charm.land/huh/v2"

	"github.com/opencode-cloud/occ/pkg/meta"
	"github.com/opencode-cloud/occ/pkg/runtime"
)

// The wizard's wording for the image sources (Phase 15's).
const (
	optPrebuilt = "Pull prebuilt image (~2 min, recommended)"
	optBuild    = "Build from source (30–60 min)"
)

// wizard is `occ setup` on a terminal: one small form per step (huh), so a
// step can depend on the previous answers (a busy port, an exposed
// address). Esc or Ctrl-C at any prompt cancels with nothing written.
type wizard struct {
	ctx    context.Context
	app    *App
	flags  *SetupCmd
	cfg    *meta.Config
	exists bool
	keymap *huh.KeyMap
	theme  huh.Theme
}

func newWizard(ctx context.Context, app *App, flags *SetupCmd, cfg *meta.Config, exists bool) *wizard {
	km := huh.NewDefaultKeyMap()
	km.Quit = key.NewBinding(key.WithKeys("ctrl+c", "esc"), key.WithHelp("esc", "cancel"))
	var theme huh.Theme = huh.ThemeFunc(huh.ThemeCharm)
	if !app.UI.ErrColor {
		theme = huh.ThemeFunc(huh.ThemeBase)
	}
	return &wizard{ctx: ctx, app: app, flags: flags, cfg: cfg, exists: exists, keymap: km, theme: theme}
}

// ask runs one form. Esc, Ctrl-C and SIGINT/SIGTERM mean
// errSetupCancelled; any other failure of the terminal is returned (in
// every case nothing has been written yet).
func (w *wizard) ask(fields ...huh.Field) error {
	f := huh.NewForm(huh.NewGroup(fields...)).
		WithInput(w.app.In).
		WithOutput(w.app.UI.Err).
		WithKeyMap(w.keymap).
		WithTheme(w.theme).
		WithShowHelp(true)
	err := f.RunWithContext(w.ctx)
	switch {
	case err == nil && w.ctx.Err() == nil:
		return nil
	case err == nil, errors.Is(err, huh.ErrUserAborted), errors.Is(err, huh.ErrTimeout), w.ctx.Err() != nil:
		return errSetupCancelled
	}
	return fmt.Errorf("setup prompt failed; nothing was changed: %w", err)
}

// answer echoes a step's answer, so the terminal keeps a transcript (each
// form clears itself when done).
func (w *wizard) answer(label, value string) {
	w.app.UI.Infof("%s %s %s", w.app.UI.E.Green("✓"), label+":", value)
}

// run asks every step and returns the plan and what to do after saving
// it. A zero plan with no error means the user chose not to change
// anything.
func (w *wizard) run() (setupPlan, after, error) {
	ui := w.app.UI
	ui.Infof("%s\nEsc or Ctrl-C cancels at any step; nothing is saved until the end.\n", ui.E.Bold("occ setup: configure the opencode sandbox service"))
	if w.exists {
		reconfigure, err := w.askReconfigure()
		if err != nil || !reconfigure {
			return setupPlan{}, afterNothing, err
		}
	}
	p := w.startingPlan()
	if err := w.askSteps(&p); err != nil {
		return setupPlan{}, afterNothing, err
	}
	save := true
	if err := w.ask(huh.NewConfirm().
		Title("Save this configuration?").
		Description(planSummary(p, w.cfg, w.app.Paths)).
		Affirmative("Save").Negative("Cancel").
		Value(&save)); err != nil {
		return setupPlan{}, afterNothing, err
	}
	if !save {
		return setupPlan{}, afterNothing, errSetupCancelled
	}
	then, err := w.askAfter(p)
	if err != nil {
		return setupPlan{}, afterNothing, err
	}
	return p, then, nil
}

// askReconfigure asks whether to change an existing configuration.
func (w *wizard) askReconfigure() (bool, error) {
	reconfigure := false
	if err := w.ask(huh.NewConfirm().
		Title("occ is already configured. Reconfigure?").
		Description(currentSummary(w.cfg, w.app.Paths)).
		Affirmative("Yes").Negative("No").
		Value(&reconfigure)); err != nil {
		return false, err
	}
	if !reconfigure {
		w.app.UI.Infof("Nothing was changed.")
	}
	return reconfigure, nil
}

// startingPlan is the config's values with the flags over them.
func (w *wizard) startingPlan() setupPlan {
	p := setupPlan{ImageSource: w.cfg.ImageSource, Port: w.cfg.OpencodeWebPort, BindAddress: w.cfg.BindAddress}
	if f := w.flags; f.ImageSource != "" {
		p.ImageSource = f.ImageSource
	}
	if w.flags.Port != 0 {
		p.Port = w.flags.Port
	}
	if w.flags.BindAddress != "" {
		p.BindAddress = w.flags.BindAddress
	}
	return p
}

// askSteps asks the mode, the image source, (custom) the port and the
// network access, and the first user.
func (w *wizard) askSteps(p *setupPlan) error {
	mode := "quick"
	if err := w.ask(huh.NewSelect[string]().
		Title("Setup mode").
		Options(
			huh.NewOption(fmt.Sprintf("Quick setup (keep port %d and network access %s)", p.Port, p.BindAddress), "quick"),
			huh.NewOption("Custom setup (choose the port and network access)", "custom"),
		).
		Value(&mode)); err != nil {
		return err
	}
	w.answer("Setup mode", mode)
	if err := w.askImageSource(p); err != nil {
		return err
	}
	if mode == "custom" {
		if err := w.askPort(p); err != nil {
			return err
		}
		if err := w.askBindAddress(p); err != nil {
			return err
		}
		if err := w.askMounts(p); err != nil {
			return err
		}
	} else if err := w.checkPort(p, true); err != nil {
		return err
	}
	return w.askUser(p)
}

// askAfter is what to do once saved: the flags; else, with the sandbox
// running, "Config changed. Restart opencode-cloud to apply?" when a
// setting the container is made from changed (nothing when none did);
// else "Start opencode-cloud now?".
func (w *wizard) askAfter(p setupPlan) (after, error) {
	switch {
	case w.flags.Start:
		return afterStart, nil
	case w.flags.NoStart:
		return afterNothing, nil
	}
	if sandboxRunning(w.ctx, w.app) {
		if !p.needsRestart(w.cfg) {
			w.app.UI.Infof("The service is running; nothing it is made from changed.")
			return afterNothing, nil
		}
		restart := true
		err := w.ask(huh.NewConfirm().
			Title("Config changed. Restart opencode-cloud to apply?").
			Description("The running sandbox keeps the old port, network access or mounts until it restarts (occ restart).").
			Affirmative("Yes").Negative("No").
			Value(&restart))
		if restart {
			return afterRestart, err
		}
		return afterNothing, err
	}
	start := true
	what := "pulls the prebuilt image (~2 min) the first time"
	if p.ImageSource == meta.SourceBuild {
		what = "builds the image from source (30–60 min) the first time"
	}
	err := w.ask(huh.NewConfirm().
		Title("Start opencode-cloud now?").
		Description("This runs occ start, which " + what + ", then starts the sandbox.").
		Affirmative("Yes").Negative("No").
		Value(&start))
	if start {
		return afterStart, err
	}
	return afterNothing, err
}

// needsRestart is whether the plan changes a setting a running container
// was made from (the keys marked Restart in pkg/meta's table).
func (p setupPlan) needsRestart(cfg *meta.Config) bool {
	next := *cfg
	next.Users = slices.Clone(cfg.Users)
	next.Mounts = slices.Clone(cfg.Mounts)
	if err := p.applyTo(&next); err != nil {
		return true
	}
	for _, k := range meta.Keys {
		if k.Restart && cfg.Get(k) != next.Get(k) {
			return true
		}
	}
	return false
}

// Mount choices in the wizard's persistence step.
const (
	mountsKeep     = "keep"
	mountsDefaults = "defaults"
	mountsEdit     = "edit"
	mountsNone     = "none"
)

// defaultMounts are upstream's default persistence mounts (§2.3) that occ
// accepts: opencode's data, state and cache and a workspace, in the home
// directory of the user running occ. Upstream's other two (~/.config/
// opencode-cloud/opencode and ~/.local/share/opencode-cloud/ssh) lie
// inside occ's own config and data directories, which never go into the
// sandbox.
func defaultMounts(home string) []string {
	return []string{
		home + "/.local/share/opencode:/home/opencoder/.local/share/opencode",
		home + "/.local/state/opencode:/home/opencoder/.local/state/opencode",
		home + "/.cache/opencode:/home/opencoder/.cache/opencode",
		home + "/opencode:/home/opencoder/workspace",
	}
}

// askMounts is the persistence step: keep the mounts, take the defaults,
// edit the list (add or remove host paths), or none.
func (w *wizard) askMounts(p *setupPlan) error {
	home, _ := os.UserHomeDir()
	current := strings.Join(w.cfg.Mounts, ",")
	shown := "none: the sandbox's data lives in volumes under occ's data directory"
	if current != "" {
		shown = strings.Join(w.cfg.Mounts, ", ")
	}
	choice := mountsKeep
	opts := []huh.Option[string]{huh.NewOption("Keep the current mounts ("+shown+")", mountsKeep)}
	if home != "" {
		opts = append(opts, huh.NewOption("Default persistence mounts: "+home+"/opencode as the workspace, opencode's data, state and cache under "+home, mountsDefaults))
	}
	opts = append(opts,
		huh.NewOption("Edit the list (add or remove host directories)", mountsEdit),
		huh.NewOption("No mounts", mountsNone))
	if err := w.ask(huh.NewSelect[string]().
		Title("Persistence: which host directories should the sandbox see?").
		Description("A bind mount /host:/container[:ro|rw] keeps files on this host, where you can reach them.").
		Options(opts...).
		Value(&choice)); err != nil {
		return err
	}
	switch choice {
	case mountsKeep:
		w.answer("Mounts", shownOrNone(w.cfg.Mounts))
		return nil
	case mountsNone:
		p.SetMounts, p.Mounts = true, ""
	case mountsDefaults:
		p.SetMounts, p.Mounts, p.CreateMountDirs = true, strings.Join(defaultMounts(home), ","), true
	case mountsEdit:
		list := current
		if err := w.ask(huh.NewText().
			Title("Mounts: /host/dir:/container/dir[:ro|rw], comma-separated or one per line (ctrl+j)").
			Description("Delete one to remove that mount; each host directory must exist.").
			Value(&list).
			Validate(w.checkMountList)); err != nil {
			return err
		}
		p.SetMounts, p.Mounts = true, strings.Join(mountLines(list), ",")
	}
	w.answer("Mounts", shownOrNone(mountLines(p.Mounts)))
	return nil
}

// checkMountList validates the typed mounts with pkg/meta's parser and
// the host checks occ start makes.
func (w *wizard) checkMountList(list string) error {
	for _, spec := range mountLines(list) {
		m, err := meta.ParseMount(spec)
		if err != nil {
			return err
		}
		if err := meta.CheckMountSource(m, w.app.Paths.DataDir, w.app.Paths.ConfigDir()); err != nil {
			return err
		}
	}
	return nil
}

// mountLines splits a list typed one per line (or comma-separated).
func mountLines(list string) []string {
	var out []string
	for _, l := range strings.FieldsFunc(list, func(r rune) bool { return r == '\n' || r == ',' }) {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

func shownOrNone(mounts []string) string {
	if len(mounts) == 0 {
		return "(none)"
	}
	return strings.Join(mounts, ", ")
}

func (w *wizard) askImageSource(p *setupPlan) error {
	if err := w.ask(huh.NewSelect[string]().
		Title("Image source: how should occ get the sandbox image?").
		Description("Prebuilt images are published automatically from this project's source and pulled from the registry.\n"+
			"Building from source compiles everything on this machine with BuildKit (customizable, auditable).").
		Options(
			huh.NewOption(optPrebuilt, meta.SourcePrebuilt),
			huh.NewOption(optBuild, meta.SourceBuild),
		).
		Value(&p.ImageSource)); err != nil {
		return err
	}
	w.answer("Image source", p.ImageSource)
	return nil
}

// askPort asks for the port, then checks it is free.
func (w *wizard) askPort(p *setupPlan) error {
	s := strconv.Itoa(p.Port)
	if err := w.ask(huh.NewInput().
		Title("Web UI port").
		Description("The port on this host where the web UI answers (1024-65535).").
		Value(&s).
		Validate(validatePort)); err != nil {
		return err
	}
	p.Port, _ = strconv.Atoi(strings.TrimSpace(s))
	return w.checkPort(p, true)
}

// checkPort tests the port on the chosen address; when it is taken it
// offers the next free one, keeping it, or another. echo says whether to
// confirm a free port on the terminal (not when re-checking it).
func (w *wizard) checkPort(p *setupPlan, echo bool) error {
	host := portCheckHost(p.BindAddress)
	err := runtime.CheckPortFree(host, p.Port)
	var inUse *runtime.PortInUseError
	switch {
	case err == nil:
		if echo {
			w.answer("Port", strconv.Itoa(p.Port))
		}
		return nil
	case !errors.As(err, &inUse):
		// Not an address of this host, or another bind failure: say so,
		// keep the answer (occ start reports it again if it persists).
		w.app.UI.Warnf("%v", err)
		w.answer("Port", strconv.Itoa(p.Port))
		return nil
	}
	if w.sandboxHolds(host, p.Port) {
		w.answer("Port", fmt.Sprintf("%d (the running sandbox's)", p.Port))
		return nil
	}
	var opts []huh.Option[string]
	choice := "keep"
	if inUse.Suggested > 0 {
		opts = append(opts, huh.NewOption(fmt.Sprintf("Use port %d (the next free one)", inUse.Suggested), "next"))
		choice = "next"
	}
	opts = append(opts,
		huh.NewOption(fmt.Sprintf("Keep port %d (e.g. occ's own sandbox is using it)", p.Port), "keep"),
		huh.NewOption("Enter another port", "other"))
	if err := w.ask(huh.NewSelect[string]().
		Title(fmt.Sprintf("Port %d is already in use on %s", p.Port, host)).
		Options(opts...).
		Value(&choice)); err != nil {
		return err
	}
	switch choice {
	case "next":
		p.Port = inUse.Suggested
	case "other":
		return w.askPort(p)
	}
	w.answer("Port", strconv.Itoa(p.Port))
	return nil
}

// sandboxHolds is whether the busy port is the running sandbox's own:
// then it is kept without asking (a quick setup on a running service
// would otherwise offer, as the default, to move it). Unknown is no.
func (w *wizard) sandboxHolds(host string, port int) bool {
	ctx, cancel := context.WithTimeout(w.ctx, runningProbeTimeout)
	defer cancel()
	holds, err := w.app.ops().PublishesPort(ctx, host, port)
	if err != nil {
		w.app.UI.Verbosef("sandbox state: %v", err)
	}
	return holds
}

// askBindAddress asks who may reach the web UI; an exposed address needs
// an explicit yes after a loud warning.
// confirmExposure asks before the web UI listens beyond this machine.
func (w *wizard) confirmExposure(addr string, port int) (bool, error) {
	expose := false
	err := w.ask(huh.NewConfirm().
		Title("⚠ WARNING: NETWORK EXPOSURE").
		Description(fmt.Sprintf("Binding to %s makes the web UI, and through it a shell in the sandbox,\n"+
			"reachable by ANYONE who can reach this machine on port %d.\n"+
			"Only do this behind a firewall or a TLS reverse proxy, with strong passwords.\n\n"+
			"Expose the service on %s?", addr, port, addr)).
		Affirmative("Yes, expose it").Negative("No, choose again").
		Value(&expose))
	return expose, err
}

func (w *wizard) askBindAddress(p *setupPlan) error {
	before := portCheckHost(p.BindAddress)
	for {
		choice := "custom"
		switch strings.ToLower(p.BindAddress) {
		case "127.0.0.1", "localhost":
			choice = "local"
		case "0.0.0.0":
			choice = "all"
		}
		if err := w.ask(huh.NewSelect[string]().
			Title("Network access: which address should the web UI listen on?").
			Options(
				huh.NewOption("This machine only: 127.0.0.1 (recommended)", "local"),
				huh.NewOption("All interfaces: 0.0.0.0 (anyone on your network can reach it)", "all"),
				huh.NewOption("Another address (custom)", "custom"),
			).
			Value(&choice)); err != nil {
			return err
		}
		addr := p.BindAddress
		switch choice {
		case "local":
			addr = "127.0.0.1"
		case "all":
			addr = "0.0.0.0"
		default:
			if err := w.ask(huh.NewInput().
				Title("Bind address").
				Description("An IPv4 or IPv6 address of this host, or localhost.").
				Value(&addr).
				Validate(func(s string) error { _, err := meta.ParseBindAddress(s); return err })); err != nil {
				return err
			}
			addr = strings.TrimSpace(addr)
		}
		if meta.IsExposed(addr) {
			if expose, err := w.confirmExposure(addr, p.Port); err != nil || !expose {
				if err != nil {
					return err
				}
				continue
			}
		}
		p.BindAddress = addr
		break
	}
	w.answer("Bind address", p.BindAddress)
	if portCheckHost(p.BindAddress) != before {
		return w.checkPort(p, false)
	}
	return nil
}

// askUser asks for the first login user (or whether to add another).
func (w *wizard) askUser(p *setupPlan) error {
	desc := "The web UI asks for a login. occ start refuses to start without a user."
	if len(w.cfg.Users) > 0 {
		add := false
		if err := w.ask(huh.NewConfirm().
			Title("Add another login user?").
			Description("Configured users: " + strings.Join(w.cfg.Users, ", ")).
			Affirmative("Yes").Negative("No").
			Value(&add)); err != nil {
			return err
		}
		if !add {
			return nil
		}
		desc = "A new login user for the web UI."
	}
	name := w.flags.User
	if name == "" && len(w.cfg.Users) == 0 {
		name = "admin"
	}
	var pw, again string
	if err := w.ask(
		huh.NewInput().
			Title("Username").
			Description(desc+"\n1-32 of a-z, 0-9, _ and -, starting with a letter or _.").
			Value(&name).
			Validate(func(s string) error { return checkNewUser(w.cfg, w.app.Paths, strings.TrimSpace(s)) }),
		huh.NewInput().
			Title("Password").
			EchoMode(huh.EchoModePassword).
			Value(&pw).
			Validate(runtime.ValidatePassword),
		huh.NewInput().
			Title("Confirm password").
			EchoMode(huh.EchoModePassword).
			Value(&again).
			Validate(func(s string) error {
				if s != pw {
					return errors.New("the passwords do not match (shift+tab goes back)")
				}
				return nil
			}),
	); err != nil {
		return err
	}
	p.User, p.Password = strings.TrimSpace(name), pw
	w.answer("Login user", p.User)
	return nil
}

// currentSummary describes the existing config for "Reconfigure?".
func currentSummary(cfg *meta.Config, paths meta.Paths) string {
	users := "(none)"
	if len(cfg.Users) > 0 {
		users = strings.Join(cfg.Users, ", ")
	}
	return fmt.Sprintf("Config file:   %s\nImage source:  %s\nPort:          %d\nBind address:  %s%s\nUsers:         %s",
		paths.ConfigFile, cfg.ImageSource, cfg.OpencodeWebPort, cfg.BindAddress, exposure(cfg.BindAddress), users)
}

// planSummary describes what will be saved.
func planSummary(p setupPlan, cfg *meta.Config, paths meta.Paths) string {
	src := optPrebuilt
	if p.ImageSource == meta.SourceBuild {
		src = optBuild
	}
	users := append([]string{}, cfg.Users...)
	if p.User != "" {
		users = append(users, p.User+" (new)")
	}
	u := "(none)"
	if len(users) > 0 {
		u = strings.Join(users, ", ")
	}
	mounts := cfg.Mounts
	if p.SetMounts {
		mounts = mountLines(p.Mounts)
	}
	return fmt.Sprintf("Image source:  %s\nPort:          %d\nBind address:  %s%s\nMounts:        %s\nUsers:         %s\nConfig file:   %s",
		src, p.Port, p.BindAddress, exposure(p.BindAddress), shownOrNone(mounts), u, paths.ConfigFile)
}

func exposure(addr string) string {
	if meta.IsExposed(addr) {
		return " [NETWORK EXPOSED]"
	}
	return " [LOCAL ONLY]"
}
