package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/alecthomas/kong"
	"github.com/willabides/kongplete"

	"github.com/opencode-cloud/occ/pkg/meta"
	"github.com/opencode-cloud/occ/pkg/runtime"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// run parses args, runs the chosen command and returns the exit code.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	var cli CLI
	exited, exitStatus := false, 0
	parser, err := newParser(&cli, stdout, stderr, func(code int) { exited, exitStatus = true, code })
	if err != nil {
		fmt.Fprintln(stderr, "occ: internal error building the command line:", err)
		return 1
	}
	// The shells' completion glue (occ completion) runs occ with the command
	// line in $COMP_LINE: answer from the command tree and exit.
	kongplete.Complete(parser)
	if exited {
		return exitStatus
	}
	kctx, err := parser.Parse(updateVersionFlag(globalShortFlags(args)))
	if exited { // --help or --version
		return exitStatus
	}
	if err != nil {
		// A usage error: the error and the usage go to stderr, nothing to
		// stdout (a script piping occ's output gets none of it; with --json,
		// the error object docs/json.md describes), exit 2.
		fmt.Fprintf(stderr, "occ: %v\n", err)
		parseFailureJSON(stdout, args, err)
		var pe *kong.ParseError
		if errors.As(err, &pe) && pe.Context != nil {
			parser.Stdout = stderr
			_ = pe.Context.PrintUsage(true)
		}
		return exitUsage
	}

	recordFlags(&cli.Globals, kctx)

	// The shim runs the log driver with a bare environment (no $HOME): it
	// needs nothing of App.
	if cli.LogDriver.Path != "" && kctx.Command() == "log-driver <path>" {
		return exitCodeOf(kctx.Run())
	}

	// On a remote host (--remote-host, or hosts.json's default_host) the
	// same command runs there, through the occ installed on it.
	if code, remote := runRemoteIfTargeted(kctx, &cli.Globals, args, stdin, stdout, stderr); remote {
		return code
	}

	// Under rootless containerd occ runs in rootlesskit's namespaces, where
	// containerd, its mounts and occ's CNI network live (docs/rootless.md).
	if rk := runtime.DetectRootless(); rk != nil && !runtime.InRootlessChild() {
		if exe, err := os.Executable(); err != nil {
			fmt.Fprintln(stderr, "Error: rootless containerd: locating the occ executable:", err)
			return 1
		} else if err := rk.Reexec(exe, args); err != nil {
			fmt.Fprintln(stderr, "Error:", err)
			return 1
		}
	}

	return runCommand(kctx, &cli.Globals, stdin, stdout, stderr)
}

// newParser is occ's kong parser; exit is called instead of os.Exit
// (--help, --version).
func newParser(cli *CLI, stdout, stderr io.Writer, exit func(int)) (*kong.Kong, error) {
	return kong.New(cli,
		kong.Name("occ"),
		kong.Description("Run the opencode AI coding agent as a persistent, authenticated web service in a sandbox container on containerd, no Docker daemon needed."),
		kong.ConfigureHelp(kong.HelpOptions{Compact: true, Summary: true}),
		kong.Help(helpWithExitCodes),
		kong.ExplicitGroups([]kong.Group{daemonGroup}),
		kong.Vars{"version": fmt.Sprintf("occ %s (commit %s)", meta.Version, meta.Commit)},
		kong.Writers(stdout, stderr),
		kong.Exit(exit),
	)
}

// runCommand binds the invocation (App, the signal context) into the
// chosen command, runs it and reports its error: the human line on
// stderr, the error object on stdout under --json, and the exit code.
func runCommand(kctx *kong.Context, g *Globals, stdin io.Reader, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	app, err := NewApp(g, stdin, stdout, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "Error:", err)
		return exitCode(err)
	}
	app.Ctx = ctx
	quietLibraryLogs(stderr, g.Verbose)
	kctx.BindTo(ctx, (*context.Context)(nil))
	if _, err := firstRun(ctx, app, kctx.Command(), stdout); err != nil {
		var es silentExit
		if !errors.As(err, &es) {
			app.UI.PrintError(err)
		}
		return exitCode(err)
	}
	stopProfile := startProfile(stderr)
	err = kctx.Run(app)
	stopProfile()
	if err != nil {
		var es silentExit
		if !errors.As(err, &es) {
			app.UI.PrintError(err)
		}
		reportJSONFailure(stdout, selectedCommand(kctx), err)
		return exitCode(err)
	}
	return exitOK
}

// helpWithExitCodes is kong's help, with occ's exit codes after the
// top-level help (occ --help, occ help).
func helpWithExitCodes(opts kong.HelpOptions, ctx *kong.Context) error {
	if err := kong.DefaultHelpPrinter(opts, ctx); err != nil {
		return err
	}
	if ctx.Selected() == nil && !opts.Summary {
		_, err := fmt.Fprint(ctx.Stdout, exitCodesHelp)
		return err
	}
	return nil
}

func exitCodeOf(err error) int {
	if err != nil {
		fmt.Fprintln(os.Stderr, "occ:", err)
		return exitFailure
	}
	return exitOK
}
