package ui

import (
	"io"
	"strings"
	"testing"
)

func TestChoose(t *testing.T) {
	opts := []string{"one", "two", "three"}
	tests := []struct {
		in      string
		want    int
		wantErr bool
	}{
		{"\n", 2, false}, {"3\n", 3, false}, {"9\nx\n1\n", 1, false}, {"", 0, true},
	}
	for _, tt := range tests {
		p := &Prompter{Err: io.Discard, In: strings.NewReader(tt.in), Interactive: true}
		got, err := p.Choose("Pick", opts, 2)
		if got != tt.want || (err != nil) != tt.wantErr {
			t.Errorf("%q: got %d %v", tt.in, got, err)
		}
	}
	p := &Prompter{Err: io.Discard, In: strings.NewReader("1\n")}
	if _, err := p.Choose("Pick", opts, 1); err == nil {
		t.Error("Choose without a terminal did not fail")
	}
}
