package main

import (
	"fmt"
	"strings"

	"github.com/alecthomas/kong"

	"github.com/opencode-cloud/occ/pkg/meta"
)

// The detailed help of the main commands (kong.HelpProvider): examples,
// and for config get/set the keys. Shown by `occ COMMAND --help` under the
// one-line summary.

// daemonGroup gathers the daemon flags in --help under their precedence.
var daemonGroup = kong.Group{Key: "daemons", Title: "Daemon flags (flag > environment > config file > default):"}

func examples(lines ...string) string {
	var b strings.Builder
	b.WriteString("Examples:\n")
	for i := 0; i+1 < len(lines); i += 2 {
		fmt.Fprintf(&b, "  %s\n      %s\n", lines[i], lines[i+1])
	}
	return strings.TrimRight(b.String(), "\n")
}

func (c *StartCmd) Help() string {
	return examples(
		"occ start", "get the image if needed, start the service, wait until it answers",
		"occ start -p 3100 --open", "on port 3100, and open the browser",
		"occ start --mount /srv/data:/data:ro", "with a host directory, read-only, for this run",
		"occ --address /run/k3s/containerd/containerd.sock start", "against another containerd")
}

func (c *StopCmd) Help() string {
	return examples(
		"occ stop", "SIGTERM, then SIGKILL after 30 s; the container is kept",
		"occ stop -t 5 --remove", "wait 5 s, and remove the container (volumes are kept)")
}

func (c *StatusCmd) Help() string {
	return examples(
		"occ status", "state, URL, health, image, security",
		"occ -q status && echo running", "exit code only: 0 running, 3 not running, 4 containerd unreachable",
		"occ status --json | jq -r .state", "for scripts")
}

func (c *LogsCmd) Help() string {
	return examples(
		"occ logs", "the last 50 lines; follows when stdout is a terminal",
		"occ logs -f | tee opencode.log", "follow, also when piped",
		"occ logs -n all --grep ERROR | less", "every line with ERROR (piped: does not follow)")
}

func (c *UpdateCmd) Help() string {
	return examples(
		"occ update", "what can be updated (occ, the image, opencode), then choose",
		"occ update --yes", "every available update, without asking (scripts)",
		"occ update container --yes", "only the image: per image_source, container recreated, rolled back on failure",
		"occ update cli --version 0.2.0", "occ itself from a signed release (occ.old kept until the new one runs)",
		"occ update opencode --version 1.18.40", "the image rebuilt with BuildKit with that opencode",
		"occ update --rollback", "back to the previous image")
}

func (c *DoctorCmd) Help() string {
	return examples(
		"occ doctor", "every check, the settings in effect and where they came from, a fix for each problem",
		"occ -q doctor", "only the failures",
		"occ doctor --json", "for scripts")
}

func (c *InstallCmd) Help() string {
	return examples(
		"occ install", "a systemd unit per boot_mode, enabled and started",
		"occ install --dry-run", "print the unit, change nothing")
}

func (c *UserAddCmd) Help() string {
	return examples(
		"occ user add alice", "the password is prompted twice",
		"printf '%s\\n' \"$PW\" | occ user add alice", "the password from stdin (one line)",
		"occ user add alice -g", "a generated password, printed once")
}

func (c *ImagePullCmd) Help() string {
	return examples(
		"occ image pull", "the configured sandbox image (image_repositories, image_tag or image_digest)",
		"occ image pull --platform linux/arm64", "another platform")
}

func (c *ImageBuildCmd) Help() string {
	return examples(
		"occ image build", "build the sandbox with BuildKit, cached",
		"occ --buildkit-host tcp://10.0.0.5:1234 image build --no-cache", "on another BuildKit, from scratch")
}

func (c *ConfigSetCmd) Help() string {
	return examples(
		"occ config set opencode_web_port 3100", "change a setting",
		"occ config set image_repositories a.io/x/sandbox,b.io/x/sandbox", "a list, comma-separated",
		"occ config set image_digest \"\"", "clear an optional value") + "\n\n" + keyList(true)
}

func (c *ConfigGetCmd) Help() string {
	return examples(
		"occ config get opencode_web_port", "one raw value, for scripts") + "\n\n" + keyList(false)
}

// keyList lists the config keys (settable ones only when settable) with
// their one-line help.
func keyList(settable bool) string {
	var b strings.Builder
	b.WriteString("Keys:\n")
	for _, k := range meta.Keys {
		if settable && !k.Settable {
			continue
		}
		fmt.Fprintf(&b, "  %-30s %s\n", k.Name, k.Help)
	}
	return strings.TrimRight(b.String(), "\n")
}
