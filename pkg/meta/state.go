package meta

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/containerd/errdefs"
)

// StateVersion is the image-state schema version occ writes.
const StateVersion = 1

// ImageState is the sidecar image-state.json: the provenance of the image
// the sandbox runs (flattened, as upstream's file is), written only after
// the image record it describes exists in containerd.
type ImageState struct {
	Version int `json:"version"`
	Provenance
	// Previous is the provenance of the image kept for rollback, if any.
	Previous *Provenance `json:"previous,omitempty"`
}

// StateError is an image-state file that cannot be read.
type StateError struct {
	Path string
	Err  error
}

func (e *StateError) Error() string {
	return fmt.Sprintf("image state %s is unreadable: %v (remove it; the next pull or build writes it again)", e.Path, e.Err)
}

func (e *StateError) Unwrap() []error { return []error{errdefs.ErrDataLoss, e.Err} }

// LoadState reads the image state. A missing file returns (nil, nil).
func LoadState(path string) (*ImageState, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, &StateError{Path: path, Err: err}
	}
	return ParseState(path, data)
}

// ParseState decodes an image-state file's bytes.
func ParseState(path string, data []byte) (*ImageState, error) {
	var s ImageState
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, &StateError{Path: path, Err: err}
	}
	switch {
	case s.Version < 1:
		return nil, &StateError{Path: path, Err: fmt.Errorf("missing or invalid schema version %d", s.Version)}
	case s.Version > StateVersion:
		return nil, &StateError{Path: path, Err: fmt.Errorf("schema version %d was written by a newer occ", s.Version)}
	case s.Source != SourcePrebuilt && s.Source != SourceBuild:
		return nil, &StateError{Path: path, Err: fmt.Errorf("unknown source %q", s.Source)}
	}
	return &s, nil
}

// SaveState writes the image state atomically with mode 0600.
func SaveState(path string, s *ImageState) error {
	c := *s
	c.Version = StateVersion
	data, err := json.MarshalIndent(&c, "", "  ")
	if err != nil {
		return fmt.Errorf("encode image state: %w", err)
	}
	if err := WriteFileAtomic(path, append(data, '\n'), 0o600); err != nil {
		return fmt.Errorf("save image state: %w", err)
	}
	return nil
}
