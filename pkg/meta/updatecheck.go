package meta

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// Answers to the version-mismatch question (update_check).
const (
	UpdateAnswerPull     = "pull"
	UpdateAnswerRebuild  = "rebuild"
	UpdateAnswerContinue = "continue"
)

// MismatchWarnInterval is how often a version-mismatch warning is shown
// when occ cannot ask.
const MismatchWarnInterval = time.Hour

// UpdateCheckMemory is what `occ start` remembers about version-mismatch
// prompts: for update_check "once", the answer given per (CLI version,
// image digest); and when a mismatch warning was last shown. It lives in
// its own small state file beside image-state.json, because pulls and
// builds rewrite that file from the new image's provenance.
type UpdateCheckMemory struct {
	Answers    []UpdateCheckAnswer `json:"answers,omitempty"`
	LastWarned time.Time           `json:"last_warned,omitzero"`
}

// UpdateCheckAnswer is one remembered answer.
type UpdateCheckAnswer struct {
	CLIVersion  string    `json:"cli_version"`
	ImageDigest string    `json:"image_digest"`
	Answer      string    `json:"answer"`
	At          time.Time `json:"at"`
}

// maxAnswers bounds the memory; older answers are dropped.
const maxAnswers = 20

// UpdateCheckFile is the memory's file.
func (p Paths) UpdateCheckFile() string { return filepath.Join(p.DataDir, "update-check.json") }

// LoadUpdateCheck reads the memory; a missing or unreadable file is an
// empty memory (it only saves questions, so losing it is harmless).
func LoadUpdateCheck(path string) *UpdateCheckMemory {
	m := &UpdateCheckMemory{}
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) || err != nil {
		return m
	}
	if json.Unmarshal(data, m) != nil {
		return &UpdateCheckMemory{}
	}
	return m
}

// Save writes the memory atomically.
func (m *UpdateCheckMemory) Save(path string) error {
	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return fmt.Errorf("encode update-check memory: %w", err)
	}
	if err := WriteFileAtomic(path, append(data, '\n'), 0o600); err != nil {
		return fmt.Errorf("save update-check memory: %w", err)
	}
	return nil
}

// Answer returns the remembered answer for this CLI version and image.
func (m *UpdateCheckMemory) Answer(cliVersion, imageDigest string) (string, bool) {
	for _, a := range m.Answers {
		if a.CLIVersion == cliVersion && a.ImageDigest == imageDigest {
			return a.Answer, true
		}
	}
	return "", false
}

// Remember records an answer, replacing one for the same pair.
func (m *UpdateCheckMemory) Remember(cliVersion, imageDigest, answer string, now time.Time) {
	out := []UpdateCheckAnswer{}
	for _, a := range m.Answers {
		if a.CLIVersion != cliVersion || a.ImageDigest != imageDigest {
			out = append(out, a)
		}
	}
	out = append(out, UpdateCheckAnswer{CLIVersion: cliVersion, ImageDigest: imageDigest, Answer: answer, At: now.UTC()})
	if len(out) > maxAnswers {
		out = out[len(out)-maxAnswers:]
	}
	m.Answers = out
}

// ShouldWarn says whether a mismatch warning is due (none within
// MismatchWarnInterval) and, if so, records now as the last warning.
func (m *UpdateCheckMemory) ShouldWarn(now time.Time) bool {
	if !m.LastWarned.IsZero() && now.Sub(m.LastWarned) < MismatchWarnInterval && now.After(m.LastWarned) {
		return false
	}
	m.LastWarned = now.UTC()
	return true
}
