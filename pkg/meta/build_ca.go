package meta

import (
	"fmt"
	"path/filepath"
)

// SystemExtraCADir is where Debian and Ubuntu keep locally added CA
// certificates (update-ca-certificates reads *.crt there). Builds pass the
// certificates found there to BuildKit as the extra_ca secret unless the
// config's build_ca_files names files.
const SystemExtraCADir = "/usr/local/share/ca-certificates"

// validateBuildCAFiles checks build_ca_files when the config is set or
// loaded: absolute paths. Whether the files exist and hold certificates is
// checked when a build reads them (pkg/build), since they may come and go.
func validateBuildCAFiles(files []string) string {
	for _, f := range files {
		if !filepath.IsAbs(f) {
			return fmt.Sprintf("%q must be an absolute path to a PEM file of CA certificates", f)
		}
	}
	return ""
}
