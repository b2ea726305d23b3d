package meta

import (
	"path/filepath"
	"testing"
	"time"
)

func TestUpdateCheckMemory(t *testing.T) {
	path := filepath.Join(t.TempDir(), "update-check.json")
	m := LoadUpdateCheck(path)
	if _, ok := m.Answer("1.0", "sha256:a"); ok {
		t.Fatal("empty memory answered")
	}
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	m.Remember("1.0", "sha256:a", UpdateAnswerContinue, now)
	m.Remember("1.0", "sha256:b", UpdateAnswerPull, now)
	m.Remember("1.0", "sha256:a", UpdateAnswerRebuild, now) // replaces
	if err := m.Save(path); err != nil {
		t.Fatal(err)
	}
	m = LoadUpdateCheck(path)
	tests := []struct {
		cli, dg, want string
		ok            bool
	}{
		{"1.0", "sha256:a", UpdateAnswerRebuild, true},
		{"1.0", "sha256:b", UpdateAnswerPull, true},
		{"1.1", "sha256:a", "", false},
	}
	for _, tt := range tests {
		if got, ok := m.Answer(tt.cli, tt.dg); got != tt.want || ok != tt.ok {
			t.Errorf("%s %s: got %q %v", tt.cli, tt.dg, got, ok)
		}
	}
	if len(m.Answers) != 2 {
		t.Errorf("answers: %v", m.Answers)
	}
	for i := range maxAnswers + 5 {
		m.Remember("2.0", string(rune('a'+i)), UpdateAnswerContinue, now)
	}
	if len(m.Answers) != maxAnswers {
		t.Errorf("memory not bounded: %d", len(m.Answers))
	}

	// Warnings: at most once an hour.
	steps := []struct {
		at   time.Duration
		want bool
	}{{0, true}, {time.Minute, false}, {59 * time.Minute, false}, {61 * time.Minute, true}, {62 * time.Minute, false}}
	w := &UpdateCheckMemory{}
	for _, s := range steps {
		if got := w.ShouldWarn(now.Add(s.at)); got != s.want {
			t.Errorf("at +%s: got %v", s.at, got)
		}
	}
	if LoadUpdateCheck(filepath.Join(t.TempDir(), "missing")) == nil {
		t.Error("nil memory for a missing file")
	}
}
