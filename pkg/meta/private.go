package meta

import (
	"fmt"
	"os"
	"path/filepath"
)

// EnsurePrivateDir creates dir (and any missing parent) with mode 0700, and
// takes group and other permissions away from it when it already existed
// with them: it holds the config, the image state, password hashes, the
// sandbox's volumes or its logs.
func EnsurePrivateDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create directory %s: %w", dir, err)
	}
	st, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("directory %s: %w", dir, err)
	}
	if st.Mode().Perm()&0o077 != 0 {
		if err := os.Chmod(dir, st.Mode().Perm()&0o700); err != nil {
			return fmt.Errorf("restrict %s to its owner (chmod 700): %w", dir, err)
		}
	}
	return nil
}

// SecureDirs makes occ's own directories private (0700): the data
// directory always, and the config directory when it is occ's own
// (…/opencode-cloud). A config file placed elsewhere with --config or
// $OCC_CONFIG leaves its directory alone; the file itself is 0600 anyway.
func (p Paths) SecureDirs() error {
	if err := EnsurePrivateDir(p.DataDir); err != nil {
		return err
	}
	if filepath.Base(p.ConfigDir()) == AppName {
		if err := EnsurePrivateDir(p.ConfigDir()); err != nil {
			return err
		}
	}
	return nil
}
