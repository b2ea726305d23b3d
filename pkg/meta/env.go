package meta

import (
	"fmt"
	"strings"

	"github.com/containerd/errdefs"
)

// unsafeEnvKeys are variables container_env may not set: they change what
// the sandbox's root entrypoint and the root `occ user` exec run (the
// program search path, the dynamic loader, shell start-up files and
// behaviour, glibc's module and locale loading). The image sets what the
// sandbox needs of them.
var unsafeEnvKeys = map[string]string{
	"PATH":             "the program search path",
	"BASH_ENV":         "a file bash runs at start",
	"ENV":              "a file sh runs at start",
	"SHELLOPTS":        "shell options",
	"BASHOPTS":         "shell options",
	"PS4":              "shell trace prompt (runs command substitutions)",
	"PROMPT_COMMAND":   "a command the shell runs",
	"IFS":              "shell word splitting",
	"CDPATH":           "shell cd search path",
	"GLOBIGNORE":       "shell globbing",
	"GCONV_PATH":       "glibc's module path",
	"GLIBC_TUNABLES":   "glibc's tunables",
	"LOCPATH":          "glibc's locale path",
	"NLSPATH":          "message catalog path",
	"HOSTALIASES":      "host name aliases file",
	"RESOLV_HOST_CONF": "resolver config file",
	"MALLOC_CHECK_":    "glibc's malloc",
	"TMPDIR":           "where root's tools write temporary files",
}

// UnsafeEnvKey says why key may not be set in container_env ("" when it
// may): see unsafeEnvKeys; every LD_* variable (the dynamic loader) is
// refused as well, and BASH_FUNC_* (exported shell functions).
func UnsafeEnvKey(key string) string {
	if why, ok := unsafeEnvKeys[key]; ok {
		return why
	}
	switch {
	case strings.HasPrefix(key, "LD_"):
		return "the dynamic loader"
	case strings.HasPrefix(key, "BASH_FUNC_"):
		return "an exported shell function"
	}
	return ""
}

func errUnsafeEnv(key, why string) error {
	return errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("%s may not be set in container_env: it controls %s of the sandbox's root processes (the image sets what the sandbox needs)", key, why))
}

// SafeEnv returns the container_env entries that may reach the sandbox:
// well-formed and none of the unsafe keys. Validate refuses a config with
// such an entry; this is the second line, at the spec.
func SafeEnv(env []string) []string {
	out := make([]string, 0, len(env))
	for _, e := range env {
		k, _, ok := strings.Cut(e, "=")
		if !ok || !envKeyRe.MatchString(k) || UnsafeEnvKey(k) != "" {
			continue
		}
		out = append(out, e)
	}
	return out
}

// MaskEnv shows container_env entries with their values hidden, since they
// are often API keys: KEY=******** (KEY= when empty).
func MaskEnv(env []string) []string {
	out := make([]string, len(env))
	for i, e := range env {
		k, v, ok := strings.Cut(e, "=")
		switch {
		case !ok:
			out[i] = k
		case v == "":
			out[i] = k + "="
		default:
			out[i] = k + "=" + masked
		}
	}
	return out
}

// ValidEnvKey reports whether key is a variable name container_env takes.
func ValidEnvKey(key string) bool { return envKeyRe.MatchString(key) }
