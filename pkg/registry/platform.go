package registry

import (
	"fmt"

	"github.com/containerd/errdefs"
	"github.com/containerd/platforms"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// ParsePlatform reads a --platform value: OS/ARCH[/VARIANT] (or ARCH alone,
// meaning linux/ARCH), normalized as containerd does. The sandbox is a
// Linux container, so another OS is refused here rather than after the
// index has been downloaded.
func ParsePlatform(s string) (ocispec.Platform, error) {
	p, err := platforms.Parse(s)
	if err != nil {
		return ocispec.Platform{}, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf(
			"--platform %q is not a platform (want OS/ARCH[/VARIANT], e.g. linux/arm64): %v", s, err))
	}
	p = platforms.Normalize(p)
	if p.OS != "linux" {
		return ocispec.Platform{}, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf(
			"--platform %q: the sandbox is a Linux container; use linux/ARCH[/VARIANT], e.g. linux/arm64", s))
	}
	return p, nil
}
