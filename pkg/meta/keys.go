package meta

import (
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/containerd/errdefs"
)

// Key describes one config key as `occ config get/set` sees it.
type Key struct {
	Name     string   // the JSON key
	Aliases  []string // upstream's short names and synonyms
	Settable bool     // false: managed by other commands (users, env, version)
	Secret   bool     // prompted for, never taken from argv, masked on output
	// Restart: the container is made from this setting (its spec, env or
	// published port), so a running sandbox keeps the old value until
	// `occ restart`; `occ config set` says so.
	Restart bool
	Help    string
	// Check is the key's validation rule: what is wrong with its value
	// in c and the command that fixes it, or "" when it is fine. Nil:
	// any value will do.
	Check func(c *Config) (problem, fix string)
}

// Keys lists the keys in file order.
var Keys = []Key{
	{Name: "version", Help: "config schema version"},
	{Name: "opencode_web_port", Aliases: []string{"port"}, Settable: true, Restart: true, Help: "host port for the web UI (>= 1024)", Check: checkOpencodeWebPort},
	{Name: "bind", Aliases: []string{"hostname"}, Settable: true, Help: "legacy, kept for upstream files; bind_address decides the binding"},
	{Name: "auto_restart", Settable: true, Help: "restart the service when it fails"},
	{Name: "boot_mode", Settable: true, Help: "user or system service registration", Check: checkBootMode},
	{Name: "restart_retries", Settable: true, Help: "service restart attempts (systemd StartLimitBurst)", Check: checkRestartRetries},
	{Name: "restart_delay", Settable: true, Help: "seconds between service restarts", Check: checkRestartDelay},
	{Name: "auth_username", Aliases: []string{"username"}, Settable: true, Help: "deprecated: use occ user add"},
	{Name: "auth_password", Aliases: []string{"password"}, Settable: true, Secret: true, Help: "deprecated: use occ user add"},
	{Name: "container_env", Aliases: []string{"env"}, Restart: true, Help: "extra KEY=value for the container (occ config env)", Check: checkContainerEnv},
	{Name: "bind_address", Aliases: []string{"host"}, Settable: true, Restart: true, Help: "host address the web port is published on", Check: checkBindAddress},
	{Name: "trust_proxy", Aliases: []string{"proxy"}, Settable: true, Restart: true, Help: "client address from X-Forwarded-For, from a reverse proxy on this host only"},
	{Name: "allow_unauthenticated_network", Aliases: []string{"allow_unauth", "unauth_network"}, Settable: true, Help: "allow a network-exposed start with no users"},
	{Name: "rate_limit_attempts", Aliases: []string{"rate_attempts"}, Settable: true, Restart: true, Help: "login checks per client address per window (4x per user name)", Check: checkRateLimitAttempts},
	{Name: "rate_limit_window_seconds", Aliases: []string{"rate_window", "rate_limit_window"}, Settable: true, Restart: true, Help: "login rate-limit window in seconds", Check: checkRateLimitWindowSeconds},
	{Name: "users", Help: "sandbox users (occ user)", Check: checkUsers},
	{Name: "cockpit_port", Settable: true, Help: "cockpit port (cockpit is disabled)", Check: checkCockpitPort},
	{Name: "cockpit_enabled", Aliases: []string{"cockpit"}, Settable: true, Help: "cockpit (disabled)"},
	{Name: "image_source", Settable: true, Help: "where the sandbox image comes from: prebuilt or build", Check: checkImageSource},
	{Name: "update_check", Settable: true, Help: "version check on start: always, once or never", Check: checkUpdateCheck},
	{Name: "mounts", Settable: true, Restart: true, Help: "bind mounts /host:/container[:ro|rw], comma-separated", Check: checkMounts},
	{Name: "image_repositories", Settable: true, Help: "registries to pull from, in order, comma-separated", Check: checkImageRepositories},
	{Name: "image_tag", Settable: true, Help: "tag to pull (empty: the sandbox of this occ's version; latest for a development build)", Check: checkImageTag},
	{Name: "image_digest", Settable: true, Help: "sha256 digest pin; when set, pulls are by digest", Check: checkImageDigest},
	{Name: "image_verify", Settable: true, Help: "signature check before an image is recorded: auto (require for occ's own repositories, warn for others), off, warn or require", Check: checkImageVerify},
	{Name: "image_verify_issuer", Settable: true, Help: "keyless: the OIDC issuer the signing certificate must name", Check: checkImageVerifyIssuer},
	{Name: "image_verify_identity", Settable: true, Help: "keyless: regular expression the signer's identity (workflow URI or e-mail) must match in full", Check: checkImageVerifyIdentity},
	{Name: "image_verify_key", Settable: true, Help: "a PEM public key file (absolute path): signatures must be made with its private key instead (self-hosted mirrors)", Check: checkImageVerifyKey},
	{Name: "image_verify_trusted_root", Settable: true, Help: "keyless: a Sigstore trusted_root.json (absolute path) to verify against instead of the one embedded in occ (a newer one, or a private Sigstore's)", Check: checkImageVerifyTrustedRoot},
	{Name: "insecure_registries", Settable: true, Help: "registry hosts reached over plain HTTP or TLS without certificate checks (loopback always is)", Check: checkInsecureRegistries},
	{Name: "release_url", Settable: true, Help: "where occ update cli finds occ's releases (files under download/vVERSION/, the newest under latest/download/)", Check: checkReleaseURL},
	{Name: "release_verify_key", Settable: true, Help: "a PEM public key file (absolute path): releases must be signed with its private key instead of by the release workflow (mirrors, snapshots)", Check: checkReleaseVerifyKey},
	{Name: "containerd_address", Settable: true, Help: "containerd socket (--address and $CONTAINERD_ADDRESS win over it; empty: the default)", Check: checkContainerdAddress},
	{Name: "containerd_namespace", Settable: true, Help: "containerd namespace occ works in", Check: checkContainerdNamespace},
	{Name: "snapshotter", Settable: true, Help: "containerd snapshotter to unpack into", Check: checkSnapshotter},
	{Name: "buildkit_address", Settable: true, Help: "BuildKit address (--buildkit-host and $BUILDKIT_HOST win over it; empty: the default sockets)", Check: checkBuildkitAddress},
	{Name: "build_ca_files", Settable: true, Help: "extra CA certificates (PEM files) for builds behind a TLS-intercepting proxy, comma-separated (empty: " + SystemExtraCADir + ")", Check: checkBuildCaFiles},
	{Name: "network_mode", Settable: true, Restart: true, Help: "cni (own network namespace) or host", Check: checkNetworkMode},
	{Name: "cni_plugin_dirs", Settable: true, Restart: true, Help: "where to look for CNI plugins, comma-separated", Check: checkCniPluginDirs},
	{Name: "seccomp", Settable: true, Restart: true, Help: "containerd's default seccomp profile on the sandbox"},
	{Name: "apparmor", Settable: true, Restart: true, Help: "AppArmor's default profile on the sandbox, where the host has AppArmor"},
	{Name: "userns", Settable: true, Restart: true, Help: "user namespace: the sandbox's ids 0-65535 are host ids userns_base and up"},
	{Name: "userns_base", Settable: true, Restart: true, Help: "first host id of the sandbox's 65536 ids (no host user, group or subordinate range may use them)", Check: checkUsernsBase},
	{Name: "pids_limit", Settable: true, Restart: true, Help: "most processes and threads in the sandbox (0: no limit)", Check: checkPidsLimit},
	{Name: "memory_limit", Settable: true, Restart: true, Help: "sandbox memory limit: auto (3/4 of the host's), none, or a size such as 4g or 512m", Check: checkMemoryLimit},
	{Name: "cpu_limit", Settable: true, Restart: true, Help: "sandbox CPU limit in CPUs: auto (the host's CPUs less half a CPU, at least 1), none, or a number such as 1.5", Check: checkCPULimit},
	{Name: "target", Settable: true, Help: "where the sandbox runs: host (this machine's containerd) or kube (a Kubernetes cluster: occ kube)", Check: kubeCheck("target")},
	{Name: "kube_context", Settable: true, Help: "kubeconfig context for target kube (empty: the current context, as kubectl)"},
	{Name: "kube_namespace", Settable: true, Help: "Kubernetes namespace of the sandbox", Check: kubeCheck("kube_namespace")},
	{Name: "kube_storage_class", Settable: true, Help: "storage class of the sandbox's volumes (empty: the cluster's default)", Check: kubeCheck("kube_storage_class")},
	{Name: "kube_volume_size", Settable: true, Help: "size of the workspace volume on Kubernetes (the others get 1Gi), such as 10Gi", Check: kubeCheck("kube_volume_size")},
	{Name: "kube_ingress_host", Settable: true, Help: "host name of an Ingress for the sandbox (empty: no Ingress)", Check: kubeCheck("kube_ingress_host")},
	{Name: "kube_ingress_tls_secret", Aliases: []string{"kube_tls_secret"}, Settable: true, Help: "TLS secret of the Ingress (empty: plain HTTP)", Check: kubeCheck("kube_ingress_tls_secret")},
	{Name: "kube_ingress_class", Settable: true, Help: "ingress class of the Ingress (empty: the cluster's default)", Check: kubeCheck("kube_ingress_class")},
}

// HiddenKeys are not shown by `occ config show` (cockpit is disabled).
var HiddenKeys = map[string]bool{"cockpit_port": true, "cockpit_enabled": true}

// LookupKey resolves a key name or alias (case-insensitive, - or _).
func LookupKey(name string) (Key, error) {
	n := strings.ReplaceAll(strings.ToLower(strings.TrimSpace(name)), "-", "_")
	for _, k := range Keys {
		if k.Name == n {
			return k, nil
		}
		for _, a := range k.Aliases {
			if a == n {
				return k, nil
			}
		}
	}
	var all []string
	for _, k := range Keys {
		all = append(all, k.Name)
		all = append(all, k.Aliases...)
	}
	sort.Strings(all)
	msg := fmt.Sprintf("unknown config key %q", name)
	if s := closest(n, all); s != "" {
		msg += fmt.Sprintf("; did you mean %q?", s)
	} else {
		msg += "; run `occ config show` to list the keys"
	}
	return Key{}, errdefs.ErrInvalidArgument.WithMessage(msg)
}

const masked = "********"

// Get renders the key's value for scripts: scalars as is, lists
// comma-joined (container_env as a JSON array, like upstream), secrets
// masked; no users is "(none)", as upstream prints it.
func (c *Config) Get(k Key) string {
	field := fieldByJSONKey(c.normalized(), k.Name)
	switch v := field.(type) {
	case *int:
		return strconv.Itoa(*v)
	case *bool:
		return strconv.FormatBool(*v)
	case *string:
		return *v
	case **string:
		if *v == nil {
			return ""
		}
		if k.Secret {
			if **v == "" {
				return ""
			}
			return masked
		}
		return **v
	case *[]string:
		if k.Name == "container_env" {
			b, _ := json.Marshal(MaskEnv(*v))
			return string(b)
		}
		if k.Name == "users" && len(*v) == 0 {
			return NoneValue
		}
		return strings.Join(*v, ",")
	}
	return ""
}

// NoneValue is what `occ config get users` prints when there are none.
const NoneValue = "(none)"

// GetRevealed is Get with secrets shown (--show-secrets): container_env's
// values as they are. auth_password stays masked: occ never shows it.
func (c *Config) GetRevealed(k Key) string {
	if k.Name == "container_env" {
		b, _ := json.Marshal(c.normalized().ContainerEnv)
		return string(b)
	}
	return c.Get(k)
}

// Display is Get for humans: empty lists show as (none), automatic
// addresses show what they resolve to.
func (c *Config) Display(k Key) string {
	switch k.Name {
	case "containerd_address":
		if c.ContainerdAddr == "" {
			return c.ContainerdAddress() + " (auto)"
		}
	case "buildkit_address":
		if c.BuildkitAddr == "" {
			return strings.Join(c.BuildkitAddresses(), ", ") + " (auto)"
		}
	case "image_digest":
		if c.ImageDigest == "" {
			return "(none: pull by tag)"
		}
	case "container_env":
		if len(c.ContainerEnv) == 0 {
			return "(none)"
		}
		return strings.Join(MaskEnv(c.ContainerEnv), ", ")
	}
	v := c.Get(k)
	if _, isList := fieldByJSONKey(c, k.Name).(*[]string); isList {
		if v == "" {
			return "(none)"
		}
		return strings.ReplaceAll(v, ",", ", ")
	}
	return v
}

// Set parses value into the key's field and validates that field. On error
// the config is left unchanged. Lists take comma-separated values ("" clears).
func (c *Config) Set(k Key, value string) error {
	if !k.Settable {
		return errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("%s cannot be set with `occ config set`%s", k.Name, managedBy(k.Name)))
	}
	if !utf8.ValidString(value) {
		// JSON cannot hold it: the saved file would read back differently.
		return errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("%s: the value %q is not valid UTF-8 text", k.Name, value))
	}
	next := *c
	field := fieldByJSONKey(&next, k.Name)
	value = strings.TrimSpace(value)
	switch v := field.(type) {
	case *int:
		n, err := strconv.Atoi(value)
		if err != nil {
			return errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("%s must be a whole number, got %q", k.Name, value))
		}
		*v = n
	case *bool:
		b, err := ParseBool(value)
		if err != nil {
			return fmt.Errorf("%s: %w", k.Name, err)
		}
		*v = b
	case *string:
		*v = value
	case **string:
		if value == "" {
			*v = nil
		} else {
			*v = &value
		}
	case *[]string:
		list := []string{}
		for _, s := range strings.Split(value, ",") {
			if s = strings.TrimSpace(s); s != "" {
				list = append(list, s)
			}
		}
		*v = list
	}
	if fe := next.validateField(k.Name); fe != nil {
		return fe
	}
	*c = next
	return nil
}

func managedBy(key string) string {
	switch key {
	case "users":
		return " (use occ user add/remove)"
	case "container_env":
		return " (use occ config env set/remove)"
	}
	return ""
}

// ParseBool accepts true/false, yes/no, on/off and 1/0.
func ParseBool(s string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "true", "yes", "y", "on", "1":
		return true, nil
	case "false", "no", "n", "off", "0":
		return false, nil
	}
	return false, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("expected true or false (yes/no, 1/0), got %q", s))
}

// SetEnv adds or replaces KEY=value in container_env. Errors name the key,
// never the value (it is often an API key).
func (c *Config) SetEnv(kv string) error {
	k, v, ok := strings.Cut(kv, "=")
	if !ok || !ValidEnvKey(k) {
		return errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("%q is not a variable name (letters, digits and _, not starting with a digit)", k))
	}
	if why := UnsafeEnvKey(k); why != "" {
		return errUnsafeEnv(k, why)
	}
	if !utf8.ValidString(v) || strings.ContainsAny(v, "\x00\n\r") {
		return errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("the value for %s must be one line of UTF-8 text", k))
	}
	out := make([]string, 0, len(c.ContainerEnv)+1)
	replaced := false
	for _, e := range c.ContainerEnv {
		if ek, _, _ := strings.Cut(e, "="); ek == k {
			if !replaced {
				out = append(out, kv)
				replaced = true
			}
			continue
		}
		out = append(out, e)
	}
	if !replaced {
		out = append(out, kv)
	}
	c.ContainerEnv = out
	return nil
}

// RemoveEnv removes KEY from container_env.
func (c *Config) RemoveEnv(key string) error {
	out := make([]string, 0, len(c.ContainerEnv))
	found := false
	for _, e := range c.ContainerEnv {
		if ek, _, _ := strings.Cut(e, "="); ek == key {
			found = true
			continue
		}
		out = append(out, e)
	}
	if !found {
		return errdefs.ErrNotFound.WithMessage(fmt.Sprintf("environment variable %q is not set (see occ config env list)", key))
	}
	c.ContainerEnv = out
	return nil
}

// Value returns the key's typed value (nil for an unset optional string).
func (c *Config) Value(k Key) any {
	switch v := fieldByJSONKey(c.normalized(), k.Name).(type) {
	case *int:
		return *v
	case *bool:
		return *v
	case *string:
		return *v
	case **string:
		if *v == nil {
			return nil
		}
		return **v
	case *[]string:
		return *v
	}
	return nil
}
