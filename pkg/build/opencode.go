package build

import (
	"fmt"
	"io/fs"
	"regexp"

	"github.com/containerd/errdefs"
)

// The opencode the sandbox image carries: a build argument of the
// Dockerfile (an opencode-ai release on the npm registry) and a label of
// the image it builds.
const (
	ArgOpencodeVersion   = "OPENCODE_VERSION"
	LabelOpencodeVersion = "org.opencode-cloud.opencode-version"
)

var (
	pinnedOpencodeRe  = regexp.MustCompile(`(?m)^ARG OPENCODE_VERSION=(\S+)\s*$`)
	opencodeVersionRe = regexp.MustCompile(`^[0-9]+\.[0-9]+\.[0-9]+(?:-[0-9A-Za-z.-]+)?$`)
)

// PinnedOpencodeVersion is the opencode version the embedded Dockerfile
// pins (what `occ image build` installs without --build-arg).
func PinnedOpencodeVersion() (string, error) {
	data, err := fs.ReadFile(SandboxContext(), "Dockerfile")
	if err != nil {
		return "", fmt.Errorf("the embedded Dockerfile: %w", err)
	}
	m := pinnedOpencodeRe.FindSubmatch(data)
	if m == nil {
		return "", fmt.Errorf("the embedded Dockerfile pins no %s", ArgOpencodeVersion)
	}
	return string(m[1]), nil
}

// CheckOpencodeVersion refuses what is not an opencode-ai release version
// (X.Y.Z, optionally -pre): npm tags such as "latest" would make the image
// depend on when it was built.
func CheckOpencodeVersion(v string) error {
	if !opencodeVersionRe.MatchString(v) {
		return errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("--version %q is not an opencode release version such as 1.18.33 (npm view opencode-ai versions lists them)", v))
	}
	return nil
}
