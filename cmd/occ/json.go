package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"slices"
	"strings"

	"github.com/alecthomas/kong"
	"github.com/containerd/errdefs"

	"github.com/opencode-cloud/occ/pkg/build"
	"github.com/opencode-cloud/occ/pkg/meta"
	"github.com/opencode-cloud/occ/pkg/ops"
	"github.com/opencode-cloud/occ/pkg/runtime"
)

// writeJSON prints v as indented JSON, one object per command
// (docs/json.md).
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// userListJSON is `occ user list --json` (with --kube too).
type userListJSON struct {
	Users []ops.UserInfo `json:"users"`
}

// instanceListJSON is `occ instance list --json`.
type instanceListJSON struct {
	Instances []ops.InstanceInfo `json:"instances"`
}

// jsonFailure is what a command given --json prints on stdout when it
// fails (docs/json.md): the error object, and for status the state it
// could not read ("unknown"). The exit code is the one occ exits with.
type jsonFailure struct {
	State string    `json:"state,omitempty"`
	Error jsonError `json:"error"`
}

type jsonError struct {
	// Code classifies the error: usage, interrupted, unreachable, or
	// containerd's errdefs class (not_found, invalid_argument, …), else
	// unknown.
	Code     string `json:"code"`
	Message  string `json:"message"`
	Hint     string `json:"hint,omitempty"`
	ExitCode int    `json:"exit_code"`
}

// jsonCommand is a command with a --json flag.
type jsonCommand interface{ wantsJSON() bool }

func (c *StatusCmd) wantsJSON() bool         { return c.JSON }
func (c *UserListCmd) wantsJSON() bool       { return c.JSON }
func (c *ConfigShowCmd) wantsJSON() bool     { return c.JSON }
func (c *ConfigGetCmd) wantsJSON() bool      { return c.JSON }
func (c *DoctorCmd) wantsJSON() bool         { return c.JSON }
func (c *VersionCmd) wantsJSON() bool        { return c.JSON }
func (c *ImageLsCmd) wantsJSON() bool        { return c.JSON }
func (c *ImageInspectCmd) wantsJSON() bool   { return c.JSON }
func (c *StartCmd) wantsJSON() bool          { return c.JSON }
func (c *StopCmd) wantsJSON() bool           { return c.JSON }
func (c *RestartCmd) wantsJSON() bool        { return c.JSON }
func (c *UpdateCmd) wantsJSON() bool         { return c.JSON }
func (c *MountAddCmd) wantsJSON() bool       { return c.JSON }
func (c *MountRemoveCmd) wantsJSON() bool    { return c.JSON }
func (c *MountListCmd) wantsJSON() bool      { return c.JSON }
func (c *MountCleanCmd) wantsJSON() bool     { return c.JSON }
func (c *ResetContainerCmd) wantsJSON() bool { return c.JSON }
func (c *ResetHostCmd) wantsJSON() bool      { return c.JSON }

// The instance and kube commands.
func (c *InstanceListCmd) wantsJSON() bool    { return c.JSON }
func (c *KubeApplyCmd) wantsJSON() bool       { return c.JSON }
func (c *KubeStatusCmd) wantsJSON() bool      { return c.JSON }
func (c *KubePortForwardCmd) wantsJSON() bool { return c.JSON }

// failureJSON builds the error object for err.
func failureJSON(cmd any, err error) jsonFailure {
	msg, hint := splitHint(err)
	f := jsonFailure{Error: jsonError{Code: errorCode(err), Message: msg, Hint: hint, ExitCode: exitCode(err)}}
	if _, ok := cmd.(*StatusCmd); ok {
		f.State = "unknown"
	}
	return f
}

// splitHint is an error's first line, and what it says to do: a config
// error's hint or fix, else the lines after the first.
func splitHint(err error) (msg, hint string) {
	var (
		ve *meta.ValidationError
		fe *meta.FieldError
		ce *meta.ConfigError
	)
	text := strings.TrimSpace(err.Error())
	msg, rest, _ := strings.Cut(text, "\n")
	switch {
	case errors.As(err, &fe):
		return fe.Field + ": " + fe.Problem, fe.Fix
	case errors.As(err, &ve) && len(ve.Fields) > 0:
		var fixes []string
		for _, f := range ve.Fields {
			if f.Fix != "" {
				fixes = append(fixes, f.Fix)
			}
		}
		return msg, strings.Join(fixes, "; ")
	case errors.As(err, &ce):
		return ce.Path + ": " + ce.Problem, ce.Hint
	}
	return msg, strings.TrimSpace(rest)
}

// errorCode names err's class.
func errorCode(err error) string {
	var (
		ue  usageError
		rue *runtime.UnreachableError
		bue *build.UnreachableError
	)
	switch {
	case errors.As(err, &ue):
		return "usage"
	case errors.Is(err, context.Canceled) || errdefs.IsCanceled(err):
		return "interrupted"
	case errors.As(err, &rue) || errors.As(err, &bue):
		return "unreachable"
	}
	for _, c := range []struct {
		is   func(error) bool
		code string
	}{
		{errdefs.IsNotFound, "not_found"}, {errdefs.IsAlreadyExists, "already_exists"},
		{errdefs.IsInvalidArgument, "invalid_argument"}, {errdefs.IsFailedPrecondition, "failed_precondition"},
		{errdefs.IsAborted, "aborted"}, {errdefs.IsUnavailable, "unavailable"},
		{errdefs.IsPermissionDenied, "permission_denied"}, {errdefs.IsDeadlineExceeded, "deadline_exceeded"},
		{errdefs.IsDataLoss, "data_loss"}, {errdefs.IsConflict, "conflict"},
		{errdefs.IsResourceExhausted, "resource_exhausted"}, {errdefs.IsNotImplemented, "not_implemented"},
	} {
		if c.is(err) {
			return c.code
		}
	}
	return "unknown"
}

// reportJSONFailure prints the error object when the command that failed
// was given --json (a silent exit has printed what it had to).
func reportJSONFailure(out io.Writer, cmd any, err error) {
	var se silentExit
	if j, ok := cmd.(jsonCommand); !ok || !j.wantsJSON() || errors.As(err, &se) {
		return
	}
	_ = writeJSON(out, failureJSON(cmd, err))
}

// selectedCommand is the command struct kong chose (nil when none), or
// the command whose --json flag it inherits (occ update container --json
// is UpdateCmd's flag).
func selectedCommand(kctx *kong.Context) any {
	n := kctx.Selected()
	if j := jsonCommandOf(n); j != nil {
		return j
	}
	if n != nil && n.Target.IsValid() && n.Target.CanAddr() {
		return n.Target.Addr().Interface()
	}
	return nil
}

// jsonCommandOf is the command that owns the --json flag n takes: n's own,
// else the nearest parent's; nil when n has none or its owner does not
// implement jsonCommand (TestEveryJSONFlagReportsFailures catches that).
func jsonCommandOf(n *kong.Node) jsonCommand {
	for ; n != nil; n = n.Parent {
		if !slices.ContainsFunc(n.Flags, func(f *kong.Flag) bool { return f.Name == "json" }) {
			continue
		}
		if n.Target.IsValid() && n.Target.CanAddr() {
			j, _ := n.Target.Addr().Interface().(jsonCommand)
			return j
		}
		return nil
	}
	return nil
}

// parseFailureJSON prints a usage error as the error object when --json
// is on the command line (the command's own flag could not be parsed).
func parseFailureJSON(out io.Writer, args []string, err error) {
	if slices.Contains(args, "--json") {
		_ = writeJSON(out, jsonFailure{Error: jsonError{Code: "usage", Message: err.Error(), ExitCode: exitUsage}})
	}
}
