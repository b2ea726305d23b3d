package meta

import (
	"os/exec"
	"strconv"
	"testing"
)

func TestOwnerAlive(t *testing.T) {
	self := ProcessOwner()
	if !OwnerAlive(self) {
		t.Fatalf("this process (%s) counts as gone", self)
	}
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	pid := strconv.Itoa(cmd.Process.Pid)
	for _, tc := range []struct {
		owner string
		alive bool
	}{
		{self, true},
		{pid + ":12345", false},                                      // exited
		{"1:" + processStart(1) + "0", false},                        // pid 1 lives, but started at another time: a reused pid
		{"", true}, {"garbage", true}, {"12:", true}, {"-1:5", true}, // unreadable: kept
	} {
		if got := OwnerAlive(tc.owner); got != tc.alive {
			t.Errorf("OwnerAlive(%q) = %v, want %v", tc.owner, got, tc.alive)
		}
	}
}
