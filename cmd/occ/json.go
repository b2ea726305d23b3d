package main

import (
	"encoding/json"
	"io"

	"github.com/opencode-cloud/occ/pkg/ops"
)

// writeJSON prints v as indented JSON, one object per command
// (docs/json.md).
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// userListJSON is `occ user list --json`.
type userListJSON struct {
	Users []ops.UserInfo `json:"users"`
}
