package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// The completion glue for each shell, and occ's answers to it.
func TestCompletion(t *testing.T) {
	occEnv(t)
	for _, sh := range []string{"bash", "zsh", "fish"} {
		code, out, errOut := occ(t, "", "completion", sh)
		if code != 0 || out != completionScripts[sh] || !strings.Contains(out, "occ") {
			t.Errorf("completion %s: %d %q %q", sh, code, out, errOut)
		}
	}
	if code, _, errOut := occ(t, "", "completion", "tcsh"); code == 0 || !strings.Contains(errOut, "bash") {
		t.Errorf("completion tcsh: %d %q", code, errOut)
	}

	tests := []struct {
		line string
		want []string // among the answers
		not  []string // never among them
	}{
		{"occ ", []string{"start", "status", "version", "completion", "image", "user"}, []string{"man", "log-driver"}},
		{"occ ver", []string{"version"}, []string{"start"}},
		{"occ image ", []string{"pull", "build", "ls", "inspect"}, []string{"start"}},
		{"occ completion ", []string{"bash", "zsh", "fish"}, nil},
		{"occ version --", []string{"--json"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.line, func(t *testing.T) {
			t.Setenv("COMP_LINE", tt.line)
			code, out, errOut := occ(t, "", "ignored")
			got := strings.Fields(out)
			if code != 0 {
				t.Fatalf("COMP_LINE=%q: %d %q", tt.line, code, errOut)
			}
			for _, w := range tt.want {
				if !slices.Contains(got, w) {
					t.Errorf("COMP_LINE=%q: %q missing from %q", tt.line, w, got)
				}
			}
			for _, w := range tt.not {
				if slices.Contains(got, w) {
					t.Errorf("COMP_LINE=%q: %q offered: %q", tt.line, w, got)
				}
			}
		})
	}
}

// The bash glue, sourced by bash, registers occ's completion command.
func TestCompletionBashRegisters(t *testing.T) {
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("no bash")
	}
	f := filepath.Join(t.TempDir(), "occ")
	if err := os.WriteFile(f, []byte(completionScripts["bash"]), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bash, "-c", "source "+f+" && complete -p occ").CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "complete -o default -C 'occ' occ" {
		t.Errorf("bash: %v %q", err, out)
	}
}

// The man page: roff, section 1, every visible command, no hidden one.
func TestManPage(t *testing.T) {
	occEnv(t)
	code, out, errOut := occ(t, "", "man")
	if code != 0 {
		t.Fatalf("man: %d %q", code, errOut)
	}
	for _, want := range []string{".TH OCC 1 ", ".SH NAME", "occ setup", `\fBstart [flags]\fP`, `\fBversion [flags]\fP`, `\fBcompletion <shell> [flags]\fP`, ".SH FILES"} {
		if !strings.Contains(out, want) {
			t.Errorf("man page lacks %q", want)
		}
	}
	for _, not := range []string{"log-driver", "\\fBman "} {
		if strings.Contains(out, not) {
			t.Errorf("man page shows the hidden %q", not)
		}
	}
	if code, out, _ := occ(t, "", "--help"); code != 0 || strings.Contains(out, " man ") {
		t.Errorf("--help lists the hidden man command: %q", out)
	}
}
