package trust

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore-go/pkg/tuf"
)

// RefreshTrustedRoot fetches Sigstore's current public-good trusted root
// from its TUF repository (verified from the TUF root that sigstore-go
// embeds, with the TUF metadata cached under cacheDir), and writes it to
// dest atomically. Verification never needs this: it is how a trusted root
// newer than the one embedded in occ gets onto a machine with a network.
func RefreshTrustedRoot(ctx context.Context, dest, cacheDir string) (*root.TrustedRoot, error) {
	opts := tuf.DefaultOptions().WithContext(ctx).WithCachePath(cacheDir)
	c, err := tuf.New(opts)
	if err != nil {
		return nil, fmt.Errorf("contact Sigstore's TUF repository %s: %w", opts.RepositoryBaseURL, err)
	}
	data, err := c.GetTarget("trusted_root.json")
	if err != nil {
		return nil, fmt.Errorf("fetch trusted_root.json from %s: %w", opts.RepositoryBaseURL, err)
	}
	tr, err := root.NewTrustedRootFromJSON(data)
	if err != nil {
		return nil, fmt.Errorf("the fetched trusted root: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(dest), 0o700); err != nil {
		return nil, err
	}
	tmp, err := os.CreateTemp(filepath.Dir(dest), ".trusted_root-*")
	if err != nil {
		return nil, err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return nil, err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return nil, err
	}
	if err := tmp.Close(); err != nil {
		return nil, err
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return nil, err
	}
	if err := os.Rename(tmp.Name(), dest); err != nil {
		return nil, fmt.Errorf("save the trusted root: %w", err)
	}
	return tr, nil
}
