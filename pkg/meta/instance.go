package meta

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/containerd/errdefs"
)

// InstanceEnv is the environment variable --sandbox-instance falls back to,
// as upstream's.
const InstanceEnv = "OPENCODE_SANDBOX_INSTANCE"

// InstanceAuto asks for the instance derived from the working directory:
// wt-<12 hex digits of FNV-1a-64 of the git top level, or of the cwd>.
const InstanceAuto = "auto"

// LabelInstance marks a sandbox instance's container and image records
// with its id (absent on the default instance's).
const LabelInstance = LabelPrefix + "instance"

var instanceRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,31}$`)

// ValidateInstance checks an instance id: 1 to 32 of a-z, 0-9 and '-', not
// starting with '-' (upstream's rule). "" is the default instance.
func ValidateInstance(id string) error {
	if id == "" || instanceRE.MatchString(id) {
		return nil
	}
	return errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf(
		"sandbox instance %q is not valid: use 1 to 32 lower-case letters, digits and '-', starting with a letter or digit (or \"auto\")", id))
}

// ResolveInstance turns --sandbox-instance / $OPENCODE_SANDBOX_INSTANCE
// into an instance id: "" stays the default instance, "auto" becomes
// AutoInstance(dir), anything else must pass ValidateInstance.
func ResolveInstance(value, dir string) (string, error) {
	v := strings.TrimSpace(value)
	if v == InstanceAuto {
		return AutoInstance(dir), nil
	}
	if err := ValidateInstance(v); err != nil {
		return "", err
	}
	return v, nil
}

// AutoInstance is the instance for a working directory: "wt-" and the first
// 12 hex digits of the FNV-1a-64 hash of the git work tree's top level
// holding dir (each git worktree its own sandbox), or of dir itself outside
// git. Symbolic links are resolved so that one tree gives one id.
func AutoInstance(dir string) string {
	root := gitTopLevel(dir)
	if root == "" {
		root = dir
	}
	if p, err := filepath.EvalSymlinks(root); err == nil {
		root = p
	}
	return AutoInstanceFor(filepath.Clean(root))
}

// AutoInstanceFor is AutoInstance's id for an already canonical path.
func AutoInstanceFor(path string) string {
	h := fnv.New64a()
	_, _ = h.Write([]byte(path))
	return fmt.Sprintf("wt-%016x", h.Sum64())[:3+12]
}

func gitTopLevel(dir string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "git", "rev-parse", "--show-toplevel")
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil {
		return "" // not a work tree, or no git: the directory itself
	}
	return strings.TrimSpace(string(out))
}

// WithInstance returns the paths of sandbox instance id ("" is the
// default instance and leaves p as it is). An instance has its own config
// file beside the default one (config.json → config-<id>.json), so that
// its port and settings are its own; see LoadConfigFor.
func (p Paths) WithInstance(id string) Paths {
	if id == "" || p.Instance == id {
		return p
	}
	base := p.BaseConfigFile()
	ext := filepath.Ext(base)
	p.ConfigFile = strings.TrimSuffix(base, ext) + "-" + id + ext
	p.Instance = id
	return p
}

// BaseConfigFile is the default instance's config file, which an instance
// without a config of its own starts from.
func (p Paths) BaseConfigFile() string {
	if p.Instance == "" {
		return p.ConfigFile
	}
	ext := filepath.Ext(p.ConfigFile)
	if s, ok := strings.CutSuffix(strings.TrimSuffix(p.ConfigFile, ext), "-"+p.Instance); ok {
		return s + ext
	}
	return p.ConfigFile
}

// suffix is "" for the default instance, "-<id>" for another.
func (p Paths) suffix() string {
	if p.Instance == "" {
		return ""
	}
	return "-" + p.Instance
}

// ContainerName is the sandbox container's id (and hostname):
// opencode-cloud-sandbox, or opencode-cloud-sandbox-<id>.
func (p Paths) ContainerName() string { return ContainerName + p.suffix() }

// ImageNames are the local image records of one instance.
type ImageNames struct {
	Current  string // what the container runs
	Previous string // kept for a rollback
	Update   string // update's staging record
}

// Images names the instance's image records: the default instance's are
// CurrentImageName, PreviousImageName and UpdateImageName; instance <id>
// uses the tags instance-<id> (upstream's), instance-<id>.previous and
// instance-<id>.update: a dot, which no id holds, so that instance
// "a"'s previous record is never instance "a-previous"'s current one.
func (p Paths) Images() ImageNames {
	if p.Instance == "" {
		return ImageNames{Current: CurrentImageName, Previous: PreviousImageName, Update: UpdateImageName}
	}
	t := LocalImageRepo + ":instance-" + p.Instance
	return ImageNames{Current: t, Previous: t + ".previous", Update: t + ".update"}
}

// UnitName is the systemd unit's name (without .service): opencode-cloud,
// or opencode-cloud-<id>.
func (p Paths) UnitName() string { return AppName + p.suffix() }

// InstanceLabels are the labels that mark the instance's container and
// images (none for the default instance, whose records keep their names).
func (p Paths) InstanceLabels() map[string]string {
	if p.Instance == "" {
		return nil
	}
	return map[string]string{LabelInstance: p.Instance}
}

// LoadConfigFor reads the config of the paths' instance. An instance
// whose own file does not exist yet starts from the default instance's
// config (images, registries, daemons…) without its users (each instance
// keeps its own user records); exists reports whether the instance's own
// file exists. The first change (occ config set port N) writes the
// instance's file.
func LoadConfigFor(p Paths) (cfg *Config, exists bool, err error) {
	cfg, exists, err = LoadConfig(p.ConfigFile)
	if err != nil || exists || p.Instance == "" {
		return cfg, exists, err
	}
	if _, serr := os.Stat(p.ConfigFile); serr != nil && !errors.Is(serr, fs.ErrNotExist) {
		return cfg, exists, nil
	}
	base, baseExists, err := LoadConfig(p.BaseConfigFile())
	if err != nil {
		return nil, false, err
	}
	if !baseExists {
		return cfg, false, nil
	}
	base.Users = nil
	return base, false, nil
}
