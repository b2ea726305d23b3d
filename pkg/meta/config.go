package meta

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sort"
	"strings"

	"github.com/agnivade/levenshtein"
	"github.com/containerd/errdefs"
	"github.com/tailscale/hujson"
)

// ConfigVersion is the schema version occ writes. Upstream's files carry the
// same version, so they load unchanged.
const ConfigVersion = 1

// Image sources.
const (
	SourcePrebuilt = "prebuilt"
	SourceBuild    = "build"
)

// Update-check policies.
const (
	UpdateCheckAlways = "always"
	UpdateCheckOnce   = "once"
	UpdateCheckNever  = "never"
)

// Network modes.
const (
	NetworkCNI  = "cni"
	NetworkHost = "host"
)

// Defaults that are not plain literals in DefaultConfig.
var (
	// DefaultImageRepositories are occ's own sandbox image (built from
	// pkg/build/sandbox by hack/publish-sandbox) and its mirror.
	DefaultImageRepositories = []string{
		"ghcr.io/opencode-cloud/occ-sandbox",
		"docker.io/opencodecloud/occ-sandbox",
	}
	DefaultCNIPluginDirs = []string{"/opt/cni/bin", "/usr/lib/cni"}
)

// Signature policies (image_verify).
const (
	VerifyAuto    = "auto" // require for DefaultImageRepositories, warn for others
	VerifyOff     = "off"
	VerifyWarn    = "warn"
	VerifyRequire = "require"
)

// The signer of occ's releases: GitHub Actions' OIDC issuer and the release
// workflow of github.com/opencode-cloud/occ, run for a version tag.
const (
	DefaultVerifyIssuer   = "https://token.actions.githubusercontent.com"
	DefaultVerifyIdentity = `https://github\.com/opencode-cloud/occ/\.github/workflows/release\.yml@refs/tags/v.+`
)

// DefaultReleaseURL is where `occ update cli` finds occ's releases.
const DefaultReleaseURL = "https://github.com/opencode-cloud/occ/releases"

const (
	DefaultContainerdAddress = "/run/containerd/containerd.sock"
	DefaultBuildkitAddress   = "unix:///run/buildkit/buildkitd.sock"
)

// Config is occ's config file. Field order is the order written; the first
// block is upstream's schema (every field, deprecated ones included, so an
// upstream user's file loads), the second is occ's own.
type Config struct {
	Version                     int      `json:"version"`
	OpencodeWebPort             int      `json:"opencode_web_port"`
	Bind                        string   `json:"bind"` // legacy: never drives the binding; bind_address does
	AutoRestart                 bool     `json:"auto_restart"`
	BootMode                    string   `json:"boot_mode"`
	RestartRetries              int      `json:"restart_retries"`
	RestartDelay                int      `json:"restart_delay"`
	AuthUsername                *string  `json:"auth_username,omitempty"` // deprecated, ignored
	AuthPassword                *string  `json:"auth_password,omitempty"` // deprecated, masked
	ContainerEnv                []string `json:"container_env"`
	BindAddress                 string   `json:"bind_address"`
	TrustProxy                  bool     `json:"trust_proxy"`
	AllowUnauthenticatedNetwork bool     `json:"allow_unauthenticated_network"`
	RateLimitAttempts           int      `json:"rate_limit_attempts"`
	RateLimitWindowSeconds      int      `json:"rate_limit_window_seconds"`
	Users                       []string `json:"users"`
	CockpitPort                 int      `json:"cockpit_port"`
	CockpitEnabled              bool     `json:"cockpit_enabled"`
	ImageSource                 string   `json:"image_source"`
	UpdateCheck                 string   `json:"update_check"`
	Mounts                      []string `json:"mounts"`

	ImageRepositories   []string `json:"image_repositories"`
	ImageTag            string   `json:"image_tag"`
	ImageDigest         string   `json:"image_digest,omitempty"`
	ImageVerify         string   `json:"image_verify"`
	ImageVerifyIssuer   string   `json:"image_verify_issuer"`
	ImageVerifyIdentity string   `json:"image_verify_identity"`
	ImageVerifyKey      string   `json:"image_verify_key,omitempty"`          // a PEM public key file: key mode
	ImageVerifyRoot     string   `json:"image_verify_trusted_root,omitempty"` // a trusted_root.json (empty: the one embedded in occ)
	InsecureRegistries  []string `json:"insecure_registries"`
	ReleaseURL          string   `json:"release_url"`                  // where occ update cli finds occ's releases
	ReleaseVerifyKey    string   `json:"release_verify_key,omitempty"` // a PEM public key file: releases signed with a key
	ContainerdAddr      string   `json:"containerd_address,omitempty"` // empty: $CONTAINERD_ADDRESS, else the default socket
	ContainerdNamespace string   `json:"containerd_namespace"`
	Snapshotter         string   `json:"snapshotter"`
	BuildkitAddr        string   `json:"buildkit_address,omitempty"` // empty: $BUILDKIT_HOST, else the default sockets
	BuildCAFiles        []string `json:"build_ca_files"`             // empty: the system's extra CAs (build_ca.go)
	NetworkMode         string   `json:"network_mode"`
	CNIPluginDirs       []string `json:"cni_plugin_dirs"`

	// The sandbox's isolation (isolation.go): on by default.
	Seccomp     bool   `json:"seccomp"`
	AppArmor    bool   `json:"apparmor"`
	UserNS      bool   `json:"userns"`
	UserNSBase  int    `json:"userns_base"`
	PidsLimit   int    `json:"pids_limit"`
	MemoryLimit string `json:"memory_limit"`
	CPULimit    string `json:"cpu_limit"`

	// Where the sandbox runs (kube.go): this host's containerd, or a
	// Kubernetes cluster (occ kube, and occ user/update with --kube).
	Target           string `json:"target"`
	KubeContext      string `json:"kube_context"`
	KubeNamespace    string `json:"kube_namespace"`
	KubeStorageClass string `json:"kube_storage_class"`
	KubeVolumeSize   string `json:"kube_volume_size"`
	KubeIngressHost  string `json:"kube_ingress_host"`
	KubeIngressTLS   string `json:"kube_ingress_tls_secret"`
	KubeIngressClass string `json:"kube_ingress_class"`

	// The file's daemon settings and the overrides ApplyEndpoints put in
	// their place (endpoints.go); never serialised.
	fileEndpoints, overrides *Endpoints
}

// legacyKeys are accepted on load and dropped, as upstream does.
var legacyKeys = map[string]bool{"opencode_commit": true}

// DefaultConfig returns a config with every field at its default.
func DefaultConfig() *Config {
	return &Config{
		Version:                ConfigVersion,
		OpencodeWebPort:        3000,
		Bind:                   "localhost",
		AutoRestart:            true,
		BootMode:               "user",
		RestartRetries:         3,
		RestartDelay:           5,
		ContainerEnv:           []string{},
		BindAddress:            "127.0.0.1",
		RateLimitAttempts:      5,
		RateLimitWindowSeconds: 60,
		Users:                  []string{},
		CockpitPort:            9090,
		ImageSource:            SourcePrebuilt,
		UpdateCheck:            UpdateCheckAlways,
		Mounts:                 []string{},
		ImageRepositories:      append([]string(nil), DefaultImageRepositories...),
		ImageTag:               "",
		ImageVerify:            VerifyAuto,
		ImageVerifyIssuer:      DefaultVerifyIssuer,
		ImageVerifyIdentity:    DefaultVerifyIdentity,
		InsecureRegistries:     []string{},
		ReleaseURL:             DefaultReleaseURL,
		BuildCAFiles:           []string{},
		ContainerdNamespace:    "opencode-cloud",
		Snapshotter:            "overlayfs",
		NetworkMode:            NetworkCNI,
		CNIPluginDirs:          append([]string(nil), DefaultCNIPluginDirs...),
		Seccomp:                true,
		AppArmor:               true,
		UserNS:                 true,
		UserNSBase:             DefaultUserNSBase,
		PidsLimit:              DefaultPidsLimit,
		MemoryLimit:            LimitAuto,
		CPULimit:               LimitAuto,
		Target:                 TargetHost,
		KubeNamespace:          DefaultKubeNamespace,
		KubeVolumeSize:         DefaultKubeVolumeSize,
	}
}

// PullTag is the tag pulled when no digest is pinned: image_tag, or when it
// is empty the sandbox made for this occ (SandboxTag).
func (c *Config) PullTag() string {
	if c.ImageTag != "" {
		return c.ImageTag
	}
	return SandboxTag()
}

// VerifyMode is the signature policy for an image from repo: image_verify,
// where auto is require for occ's own repositories and warn for others.
func (c *Config) VerifyMode(repo string) string {
	if c.ImageVerify != VerifyAuto && c.ImageVerify != "" {
		return c.ImageVerify
	}
	if IsOwnRepository(repo) {
		return VerifyRequire
	}
	return VerifyWarn
}

// IsOwnRepository says whether repo is one of occ's own (the defaults).
func IsOwnRepository(repo string) bool {
	repo = strings.TrimSpace(repo)
	for _, r := range DefaultImageRepositories {
		if repo == r {
			return true
		}
	}
	return false
}

// ContainerdAddress is the containerd socket to use: the configured one,
// else $CONTAINERD_ADDRESS, else /run/containerd/containerd.sock. occ's
// command line puts --address and $CONTAINERD_ADDRESS over the configured
// one first (ApplyEndpoints), so there the environment wins.
func (c *Config) ContainerdAddress() string {
	if c.ContainerdAddr != "" {
		return c.ContainerdAddr
	}
	if v := os.Getenv("CONTAINERD_ADDRESS"); v != "" {
		return v
	}
	return DefaultContainerdAddress
}

// BuildkitAddresses lists the BuildKit addresses to try, in order: the
// configured one alone when set; otherwise $BUILDKIT_HOST, the rootful
// socket and the rootless one under $XDG_RUNTIME_DIR.
func (c *Config) BuildkitAddresses() []string {
	if c.BuildkitAddr != "" {
		return []string{c.BuildkitAddr}
	}
	var out []string
	if v := os.Getenv("BUILDKIT_HOST"); v != "" {
		out = append(out, v)
	}
	out = append(out, DefaultBuildkitAddress)
	if d := os.Getenv("XDG_RUNTIME_DIR"); d != "" {
		out = append(out, "unix://"+strings.TrimRight(d, "/")+"/buildkit/buildkitd.sock")
	}
	return out
}

// ConfigError is a config file that cannot be loaded: bad syntax, an unknown
// key, a wrong type. It is classified as errdefs.ErrInvalidArgument.
type ConfigError struct {
	Path    string
	Problem string
	Hint    string
	Err     error
}

func (e *ConfigError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "configuration error in %s: %s", e.Path, e.Problem)
	if e.Hint != "" {
		fmt.Fprintf(&b, " (%s)", e.Hint)
	}
	return b.String()
}

func (e *ConfigError) Unwrap() []error {
	if e.Err != nil {
		return []error{errdefs.ErrInvalidArgument, e.Err}
	}
	return []error{errdefs.ErrInvalidArgument}
}

// LoadConfig reads the config at path. A missing file yields the defaults
// (and exists=false); nothing is written. The file is JSON with comments
// and trailing commas allowed (JSONC). Unknown keys, wrong types and a
// newer schema version are errors; semantic checks are Validate's job, so a
// file with one bad value can still be loaded and fixed with `occ config set`.
func LoadConfig(path string) (cfg *Config, exists bool, err error) {
	data, err := readConfigFile(path, true)
	if errors.Is(err, fs.ErrNotExist) {
		return DefaultConfig(), false, nil
	}
	var ce *ConfigError
	if errors.As(err, &ce) {
		return nil, true, err
	}
	if err != nil {
		return nil, false, &ConfigError{Path: path, Problem: fmt.Sprintf("cannot read the file: %v", err),
			Hint: "check its permissions, or point --config / $OCC_CONFIG at another file", Err: err}
	}
	cfg, err = ParseConfig(data)
	if err != nil {
		var ce *ConfigError
		if errors.As(err, &ce) {
			ce.Path = path
		}
		return nil, true, err
	}
	return cfg, true, nil
}

// ParseConfig decodes a config file's bytes over the defaults.
func ParseConfig(data []byte) (*Config, error) {
	std, err := hujson.Standardize(data)
	if err != nil {
		return nil, &ConfigError{Problem: "not valid JSON: " + describeSyntaxError(data, err),
			Hint: "fix the syntax, or run `occ config reset` to start over (the old file is kept as config.json.bak)", Err: err}
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(std, &raw); err != nil {
		return nil, &ConfigError{Problem: "the file must hold one JSON object ({ … })", Err: err}
	}
	known := knownJSONKeys()
	var unknown []string
	for k := range raw {
		if !known[k] && !legacyKeys[k] {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		k := unknown[0]
		ce := &ConfigError{Problem: fmt.Sprintf("unknown key %q", k)}
		if s := closest(k, sortedKeys(known)); s != "" {
			ce.Hint = fmt.Sprintf("did you mean %q?", s)
		} else {
			ce.Hint = "run `occ config show` to list the valid keys"
		}
		return nil, ce
	}
	for k := range legacyKeys {
		delete(raw, k)
	}
	if v, ok := raw["version"]; ok {
		var ver int
		if err := json.Unmarshal(v, &ver); err != nil || ver < 1 {
			return nil, &ConfigError{Problem: fmt.Sprintf("version must be a positive whole number, got %s", compact(v))}
		}
		if ver > ConfigVersion {
			return nil, &ConfigError{Problem: fmt.Sprintf("schema version %d was written by a newer occ (this one reads version %d)", ver, ConfigVersion),
				Hint: "upgrade occ"}
		}
	}
	cfg := DefaultConfig()
	for k, v := range raw {
		if bytes.Equal(bytes.TrimSpace(v), []byte("null")) {
			// null means "default" for every key, as serde's Option and defaults do upstream.
			continue
		}
		field := fieldByJSONKey(cfg, k)
		if err := json.Unmarshal(v, field); err != nil {
			return nil, &ConfigError{Problem: fmt.Sprintf("key %q must be %s, got %s", k, typeName(field), compact(v)), Err: err}
		}
	}
	cfg.Version = ConfigVersion
	return cfg, nil
}

// Marshal renders the config as the file occ writes: pretty-printed JSON.
func (c *Config) Marshal() ([]byte, error) {
	out, err := json.MarshalIndent(c.normalized(), "", "  ")
	if err != nil {
		return nil, err
	}
	return append(out, '\n'), nil
}

// normalized returns a copy with nil lists as empty lists, so the file shows [].
func (c *Config) normalized() *Config {
	n := *c
	for _, l := range []*[]string{&n.ContainerEnv, &n.Users, &n.Mounts, &n.ImageRepositories, &n.InsecureRegistries, &n.BuildCAFiles, &n.CNIPluginDirs} {
		if *l == nil {
			*l = []string{}
		}
	}
	return &n
}

// SaveConfig writes cfg to path atomically with mode 0600, first keeping the
// current file (if any) as path+".bak". It is the one way occ writes its
// config, and it writes no password: a plain-text auth_password an upstream
// config held is left out of the new file and taken out of the backup.
// When path is a symlink, the file it points to is replaced and the link
// stays.
func SaveConfig(path string, cfg *Config) error {
	clean := cfg.withoutOverrides()
	clean.AuthPassword = nil
	data, err := clean.Marshal()
	if err != nil {
		return fmt.Errorf("encode config: %w", err)
	}
	target, err := resolveConfigPath(path)
	if err != nil {
		return fmt.Errorf("save config %s: %w (nothing was changed)", path, err)
	}
	// The backup is taken even from a file others could write (config
	// reset replaces such a file); a FIFO, a device or an oversized file
	// is refused rather than replaced: it is not a config occ wrote.
	if old, err := readConfigFile(target, false); err == nil {
		if err := WriteFileAtomic(path+".bak", withoutPassword(old), 0o600); err != nil {
			return fmt.Errorf("keep a backup of %s before saving: %w (nothing was changed)", path, err)
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("keep a backup of %s before saving: %w (nothing was changed)", path, err)
	}
	if err := WriteFileAtomic(target, data, 0o600); err != nil {
		return fmt.Errorf("save config: %w (the previous file is unchanged)", err)
	}
	return nil
}

func describeSyntaxError(data []byte, err error) string {
	msg := err.Error()
	// hujson reports "hujson: line L, column C: …" already; keep it short.
	msg = strings.TrimPrefix(msg, "hujson: ")
	return msg
}

func compact(v json.RawMessage) string {
	var b bytes.Buffer
	if json.Compact(&b, v) != nil {
		return string(v)
	}
	s := b.String()
	if len(s) > 60 {
		s = s[:57] + "..."
	}
	return s
}

func typeName(field any) string {
	switch field.(type) {
	case *int:
		return "a whole number"
	case *bool:
		return "true or false"
	case *string, **string:
		return "a string"
	case *[]string:
		return "a list of strings"
	}
	return "a valid value"
}

// closest returns the candidate nearest to s by edit distance, or "" if
// nothing is close enough to be a plausible typo.
func closest(s string, candidates []string) string {
	best, bestD := "", len(s)/2+2
	for _, c := range candidates {
		d := levenshtein.ComputeDistance(strings.ToLower(s), c)
		if strings.Contains(c, strings.ToLower(s)) && len(s) >= 3 {
			d = min(d, 2)
		}
		if d < bestD {
			best, bestD = c, d
		}
	}
	return best
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
