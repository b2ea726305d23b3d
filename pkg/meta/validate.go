package meta

import (
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/containerd/containerd/v2/pkg/identifiers"
	"github.com/containerd/errdefs"
	"github.com/distribution/reference"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/opencontainers/go-digest"
)

// FieldError is one invalid config value: which field, what is wrong, and
// the exact command that fixes it.
type FieldError struct {
	Field   string
	Problem string
	Fix     string
}

func (e *FieldError) Error() string {
	s := fmt.Sprintf("%s: %s", e.Field, e.Problem)
	if e.Fix != "" {
		s += "; to fix, run: " + e.Fix
	}
	return s
}

func (e *FieldError) Unwrap() error { return errdefs.ErrInvalidArgument }

// ValidationError collects every invalid field of a config.
type ValidationError struct{ Fields []*FieldError }

func (e *ValidationError) Error() string {
	parts := make([]string, len(e.Fields))
	for i, f := range e.Fields {
		parts[i] = f.Error()
	}
	return "invalid configuration: " + strings.Join(parts, "; ")
}

func (e *ValidationError) Unwrap() error { return errdefs.ErrInvalidArgument }

// Validate checks every field and returns a *ValidationError listing all
// problems, or nil.
func (c *Config) Validate() error {
	var errs []*FieldError
	for _, k := range jsonKeys {
		if fe := c.validateField(k); fe != nil {
			errs = append(errs, fe)
		}
	}
	if len(errs) == 0 {
		return nil
	}
	return &ValidationError{Fields: errs}
}

var (
	usernameRe = regexp.MustCompile(`^[a-z_][a-z0-9_-]{0,31}$`)
	tagRe      = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$`)
	envKeyRe   = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	hostPortRe = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?(:[0-9]{1,5})?$|^\[[0-9A-Fa-f:.]+\](:[0-9]{1,5})?$`)
)

// Bounds of restart_delay (a day) and restart_retries: the systemd unit's
// StartLimitIntervalSec is their product, doubled, far from overflowing.
const (
	MaxRestartDelay   = 86400
	MaxRestartRetries = 1000
)

// ValidUsername reports whether s is a username occ accepts for sandbox users.
func ValidUsername(s string) bool { return usernameRe.MatchString(s) }

// validateField checks one key's value with the rule beside it in Keys.
func (c *Config) validateField(key string) *FieldError {
	for _, k := range Keys {
		if k.Name != key || k.Check == nil {
			continue
		}
		if problem, fix := k.Check(c); problem != "" {
			return &FieldError{Field: key, Problem: problem, Fix: fix}
		}
		return nil
	}
	return nil
}

// The rules below are the Check of a key in Keys (keys.go); the isolation
// keys' are in isolation.go.
// Each returns what is wrong with the value and the command that fixes
// it, or "" when the value is fine.

// checkOpencodeWebPort checks opencode_web_port.
func checkOpencodeWebPort(c *Config) (problem, fix string) {
	if c.OpencodeWebPort < 1024 || c.OpencodeWebPort > 65535 {
		return fmt.Sprintf("port must be between 1024 and 65535 (non-privileged), got %d", c.OpencodeWebPort), "occ config set opencode_web_port 3000"
	}
	return "", ""
}

// checkCockpitPort checks cockpit_port.
func checkCockpitPort(c *Config) (problem, fix string) {
	if c.CockpitPort < 1 || c.CockpitPort > 65535 {
		return fmt.Sprintf("port must be between 1 and 65535, got %d", c.CockpitPort), "occ config set cockpit_port 9090"
	}
	return "", ""
}

// checkBindAddress checks bind_address.
func checkBindAddress(c *Config) (problem, fix string) {
	ip, err := ParseBindAddress(c.BindAddress)
	if err != nil {
		return err.Error(), "occ config set bind_address 127.0.0.1"
	}
	if ip.To4() == nil && !ip.IsUnspecified() && c.NetworkMode != NetworkHost {
		// portmap publishes only onto the sandbox's addresses of the
		// same family, and occ's network is IPv4: nothing would listen.
		return fmt.Sprintf("%s is an IPv6 address, and network_mode cni publishes on IPv4 only (\"::\" means every IPv4 interface there); use 127.0.0.1 or 0.0.0.0, or run with network_mode host", c.BindAddress),
			"occ config set bind_address 127.0.0.1"
	}
	return "", ""
}

// checkBootMode checks boot_mode.
func checkBootMode(c *Config) (problem, fix string) {
	if c.BootMode != "user" && c.BootMode != "system" {
		return fmt.Sprintf("must be user or system, got %q", c.BootMode), "occ config set boot_mode user"
	}
	return "", ""
}

// checkRestartRetries checks restart_retries.
func checkRestartRetries(c *Config) (problem, fix string) {
	if c.RestartRetries < 0 || c.RestartRetries > MaxRestartRetries {
		return fmt.Sprintf("must be 0 to %d, got %d", MaxRestartRetries, c.RestartRetries), "occ config set restart_retries 3"
	}
	return "", ""
}

// checkRestartDelay checks restart_delay.
func checkRestartDelay(c *Config) (problem, fix string) {
	if c.RestartDelay < 0 || c.RestartDelay > MaxRestartDelay {
		return fmt.Sprintf("must be 0 to %d seconds, got %d", MaxRestartDelay, c.RestartDelay), "occ config set restart_delay 5"
	}
	return "", ""
}

// checkRateLimitAttempts checks rate_limit_attempts.
func checkRateLimitAttempts(c *Config) (problem, fix string) {
	if c.RateLimitAttempts < 1 {
		return "must be at least 1", "occ config set rate_limit_attempts 5"
	}
	return "", ""
}

// checkRateLimitWindowSeconds checks rate_limit_window_seconds.
func checkRateLimitWindowSeconds(c *Config) (problem, fix string) {
	if c.RateLimitWindowSeconds < 1 {
		return "must be at least 1 second", "occ config set rate_limit_window_seconds 60"
	}
	return "", ""
}

// checkContainerEnv checks container_env.
func checkContainerEnv(c *Config) (problem, fix string) {
	for _, e := range c.ContainerEnv {
		k, _, ok := strings.Cut(e, "=")
		if !ok || !envKeyRe.MatchString(k) {
			return fmt.Sprintf("entry %q must look like KEY=value", k), "occ config env remove " + k
		}
		if why := UnsafeEnvKey(k); why != "" {
			return fmt.Sprintf("%s may not be set: it controls %s of the sandbox's root processes", k, why), "occ config env remove " + k
		}
	}
	return "", ""
}

// checkUsers checks users.
func checkUsers(c *Config) (problem, fix string) {
	for _, u := range c.Users {
		if !ValidUsername(u) {
			return fmt.Sprintf("user %q is not a valid username (lowercase letters, digits, _ and -, at most 32, not starting with a digit or -)", u), "occ user remove " + u
		}
	}
	return "", ""
}

// checkImageSource checks image_source.
func checkImageSource(c *Config) (problem, fix string) {
	if c.ImageSource != SourcePrebuilt && c.ImageSource != SourceBuild {
		return fmt.Sprintf("must be %s or %s, got %q", SourcePrebuilt, SourceBuild, c.ImageSource), "occ config set image_source prebuilt"
	}
	return "", ""
}

// checkUpdateCheck checks update_check.
func checkUpdateCheck(c *Config) (problem, fix string) {
	switch c.UpdateCheck {
	case UpdateCheckAlways, UpdateCheckOnce, UpdateCheckNever:
	default:
		return fmt.Sprintf("must be always, once or never, got %q", c.UpdateCheck), "occ config set update_check always"
	}
	return "", ""
}

// checkMounts checks mounts.
func checkMounts(c *Config) (problem, fix string) {
	for _, m := range c.Mounts {
		if _, err := ParseMount(m); err != nil {
			return err.Error(), fmt.Sprintf("occ config set mounts %q", strings.Join(without(c.Mounts, m), ","))
		}
	}
	return "", ""
}

// checkImageRepositories checks image_repositories.
func checkImageRepositories(c *Config) (problem, fix string) {
	if len(c.ImageRepositories) == 0 {
		return "at least one repository is needed", "occ config set image_repositories " + strings.Join(DefaultImageRepositories, ",")
	}
	for _, r := range c.ImageRepositories {
		if err := ValidateRepository(r); err != nil {
			return err.Error(), "occ config set image_repositories " + strings.Join(DefaultImageRepositories, ",")
		}
	}
	return "", ""
}

// checkImageTag checks image_tag.
func checkImageTag(c *Config) (problem, fix string) {
	if c.ImageTag != "" && !tagRe.MatchString(c.ImageTag) {
		return fmt.Sprintf("%q is not a valid image tag", c.ImageTag), "occ config set image_tag latest"
	}
	return "", ""
}

// checkImageDigest checks image_digest.
func checkImageDigest(c *Config) (problem, fix string) {
	if c.ImageDigest != "" {
		if err := ValidateDigest(c.ImageDigest); err != nil {
			return err.Error(), `occ config set image_digest ""`
		}
	}
	return "", ""
}

// checkImageVerify checks image_verify.
func checkImageVerify(c *Config) (problem, fix string) {
	switch c.ImageVerify {
	case VerifyAuto, VerifyOff, VerifyWarn, VerifyRequire:
	default:
		return fmt.Sprintf("must be auto, off, warn or require, got %q", c.ImageVerify), "occ config set image_verify auto"
	}
	return "", ""
}

// checkImageVerifyIssuer checks image_verify_issuer.
func checkImageVerifyIssuer(c *Config) (problem, fix string) {
	if c.ImageVerifyKey == "" {
		if u, err := url.Parse(c.ImageVerifyIssuer); err != nil || u.Scheme != "https" || u.Host == "" {
			return fmt.Sprintf("%q must be an https:// URL (the OIDC issuer of the signing certificate)", c.ImageVerifyIssuer), "occ config set image_verify_issuer " + DefaultVerifyIssuer
		}
	}
	return "", ""
}

// checkImageVerifyIdentity checks image_verify_identity.
func checkImageVerifyIdentity(c *Config) (problem, fix string) {
	if c.ImageVerifyKey == "" {
		if c.ImageVerifyIdentity == "" {
			return "must not be empty without image_verify_key (any signer would do)", "occ config set image_verify_identity '" + DefaultVerifyIdentity + "'"
		}
		if _, err := regexp.Compile(c.ImageVerifyIdentity); err != nil {
			return fmt.Sprintf("%q is not a regular expression: %v", c.ImageVerifyIdentity, err), "occ config set image_verify_identity '" + DefaultVerifyIdentity + "'"
		}
	}
	return "", ""
}

// checkImageVerifyKey checks image_verify_key.
func checkImageVerifyKey(c *Config) (problem, fix string) {
	if c.ImageVerifyKey != "" && !filepath.IsAbs(c.ImageVerifyKey) {
		return fmt.Sprintf("%q must be an absolute path to a PEM public key", c.ImageVerifyKey), `occ config set image_verify_key ""`
	}
	return "", ""
}

// checkImageVerifyTrustedRoot checks image_verify_trusted_root.
func checkImageVerifyTrustedRoot(c *Config) (problem, fix string) {
	if c.ImageVerifyRoot != "" && !filepath.IsAbs(c.ImageVerifyRoot) {
		return fmt.Sprintf("%q must be an absolute path to a Sigstore trusted_root.json", c.ImageVerifyRoot), `occ config set image_verify_trusted_root ""`
	}
	return "", ""
}

// checkReleaseURL checks release_url.
func checkReleaseURL(c *Config) (problem, fix string) {
	u, err := url.Parse(c.ReleaseURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return fmt.Sprintf("%q must be an http(s) URL such as %s", c.ReleaseURL, DefaultReleaseURL), "occ config set release_url " + DefaultReleaseURL
	}
	return "", ""
}

// checkReleaseVerifyKey checks release_verify_key.
func checkReleaseVerifyKey(c *Config) (problem, fix string) {
	if c.ReleaseVerifyKey != "" && !filepath.IsAbs(c.ReleaseVerifyKey) {
		return fmt.Sprintf("%q must be an absolute path to a PEM public key", c.ReleaseVerifyKey), `occ config set release_verify_key ""`
	}
	return "", ""
}

// checkInsecureRegistries checks insecure_registries.
func checkInsecureRegistries(c *Config) (problem, fix string) {
	for _, h := range c.InsecureRegistries {
		if !hostPortRe.MatchString(h) {
			return fmt.Sprintf("%q must be a registry host, optionally with a port (e.g. registry.local:5000)", h), `occ config set insecure_registries ""`
		}
	}
	return "", ""
}

// checkContainerdAddress checks containerd_address.
func checkContainerdAddress(c *Config) (problem, fix string) {
	if c.ContainerdAddr != "" {
		if err := validateSocketAddress(c.ContainerdAddr, false); err != nil {
			return err.Error(), `occ config set containerd_address ""`
		}
	}
	return "", ""
}

// checkContainerdNamespace checks containerd_namespace.
func checkContainerdNamespace(c *Config) (problem, fix string) {
	if err := identifiers.Validate(c.ContainerdNamespace); err != nil {
		return fmt.Sprintf("%q is not a valid containerd namespace", c.ContainerdNamespace), "occ config set containerd_namespace opencode-cloud"
	}
	return "", ""
}

// checkSnapshotter checks snapshotter.
func checkSnapshotter(c *Config) (problem, fix string) {
	if err := identifiers.Validate(c.Snapshotter); err != nil {
		return fmt.Sprintf("%q is not a valid snapshotter name", c.Snapshotter), "occ config set snapshotter overlayfs"
	}
	return "", ""
}

// checkBuildkitAddress checks buildkit_address.
func checkBuildkitAddress(c *Config) (problem, fix string) {
	if c.BuildkitAddr != "" {
		if err := validateSocketAddress(c.BuildkitAddr, true); err != nil {
			return err.Error(), `occ config set buildkit_address ""`
		}
	}
	return "", ""
}

// checkBuildCaFiles checks build_ca_files.
func checkBuildCaFiles(c *Config) (problem, fix string) {
	if problem := validateBuildCAFiles(c.BuildCAFiles); problem != "" {
		return problem, `occ config set build_ca_files ""`
	}
	return "", ""
}

// checkNetworkMode checks network_mode.
func checkNetworkMode(c *Config) (problem, fix string) {
	if c.NetworkMode != NetworkCNI && c.NetworkMode != NetworkHost {
		return fmt.Sprintf("must be cni or host, got %q", c.NetworkMode), "occ config set network_mode cni"
	}
	return "", ""
}

// checkCniPluginDirs checks cni_plugin_dirs.
func checkCniPluginDirs(c *Config) (problem, fix string) {
	if len(c.CNIPluginDirs) == 0 {
		return "at least one directory is needed", "occ config set cni_plugin_dirs " + strings.Join(DefaultCNIPluginDirs, ",")
	}
	for _, d := range c.CNIPluginDirs {
		if !filepath.IsAbs(d) {
			return fmt.Sprintf("%q must be an absolute path", d), "occ config set cni_plugin_dirs " + strings.Join(DefaultCNIPluginDirs, ",")
		}
	}
	return "", ""
}

func without(list []string, drop string) []string {
	var out []string
	for _, s := range list {
		if s != drop {
			out = append(out, s)
		}
	}
	return out
}

// ParseBindAddress parses a bind address: an IPv4 or IPv6 address, with or
// without brackets ([::1]), or "localhost" (127.0.0.1). An IPv4-mapped
// IPv6 address is its IPv4 address. Addresses no socket can listen on
// are refused with what to use instead: multicast, broadcast, IPv6
// link-local (it needs an interface zone) and host names.
func ParseBindAddress(s string) (net.IP, error) {
	v := strings.TrimSpace(s)
	if strings.EqualFold(v, "localhost") {
		return net.IPv4(127, 0, 0, 1).To4(), nil
	}
	if strings.HasPrefix(v, "[") && strings.HasSuffix(v, "]") {
		v = v[1 : len(v)-1]
	}
	ip := net.ParseIP(v)
	if ip == nil {
		return nil, fmt.Errorf("invalid IP address %q: use 127.0.0.1 (this machine only), 0.0.0.0 (every interface), an address of this host, ::1, :: or localhost", s)
	}
	if v4 := ip.To4(); v4 != nil {
		ip = v4
	}
	switch {
	case ip.IsMulticast():
		return nil, fmt.Errorf("%q is a multicast address, which no server can listen on: use 127.0.0.1, 0.0.0.0 or an address of this host", s)
	case ip.Equal(net.IPv4bcast):
		return nil, fmt.Errorf("%q is the broadcast address, which no server can listen on: use 127.0.0.1, 0.0.0.0 or an address of this host", s)
	case ip.To4() == nil && ip.IsLinkLocalUnicast():
		return nil, fmt.Errorf("%q is an IPv6 link-local address, which needs an interface zone occ cannot publish on: use ::, ::1 or a global address of this host", s)
	}
	return ip, nil
}

// CanonicalBindAddress is the bind address as the runtime uses it: the
// bare IP (no brackets; localhost as 127.0.0.1). An invalid one is
// returned as it is (Validate reports it).
func CanonicalBindAddress(s string) string {
	ip, err := ParseBindAddress(s)
	if err != nil {
		return s
	}
	return ip.String()
}

// IsExposed reports whether binding to addr exposes the service beyond this
// host (an unspecified address such as 0.0.0.0 or ::, or any non-loopback IP).
func IsExposed(addr string) bool {
	ip, err := ParseBindAddress(addr)
	return err != nil || !ip.IsLoopback()
}

// ValidateRepository checks an image repository reference such as
// ghcr.io/opencode-cloud/occ-sandbox (no tag, no digest).
func ValidateRepository(r string) error {
	if strings.ContainsAny(r, "@") {
		return fmt.Errorf("repository %q must not carry a digest (use image_digest)", r)
	}
	if i := strings.LastIndex(r, ":"); i > strings.LastIndex(r, "/") {
		return fmt.Errorf("repository %q must not carry a tag (use image_tag)", r)
	}
	if _, err := name.NewRepository(r); err != nil {
		return fmt.Errorf("repository %q is not a valid image repository: %v", r, err)
	}
	// go-containerregistry checks the registry part loosely (any URI
	// authority, non-ASCII included); the reference grammar containerd and
	// the registries use does not.
	if _, err := reference.ParseNormalizedNamed(r); err != nil {
		return fmt.Errorf("repository %q is not a valid image repository: %v", r, err)
	}
	return nil
}

// ValidateDigest checks a sha256 digest pin such as sha256:<64 hex>.
func ValidateDigest(d string) error {
	dg, err := digest.Parse(d)
	if err != nil || dg.Algorithm() != digest.SHA256 {
		return fmt.Errorf("%q is not a sha256 digest (expected sha256: followed by 64 lowercase hex digits)", d)
	}
	return nil
}

func validateSocketAddress(a string, allowTCP bool) error {
	if filepath.IsAbs(a) {
		return nil
	}
	u, err := url.Parse(a)
	if err != nil {
		return fmt.Errorf("%q is not a socket path or address: %v", a, err)
	}
	switch u.Scheme {
	case "unix":
		if u.Path == "" || !filepath.IsAbs(u.Path) {
			return fmt.Errorf("%q must name an absolute socket path (unix:///path/to.sock)", a)
		}
		return nil
	case "tcp":
		if !allowTCP {
			break
		}
		if _, p, err := net.SplitHostPort(u.Host); err != nil || p == "" {
			return fmt.Errorf("%q must be tcp://host:port", a)
		} else if _, err := strconv.Atoi(p); err != nil {
			return fmt.Errorf("%q has a bad port", a)
		}
		return nil
	}
	if allowTCP {
		return fmt.Errorf("%q must be an absolute socket path, unix:///path or tcp://host:port", a)
	}
	return fmt.Errorf("%q must be an absolute socket path or unix:///path", a)
}
