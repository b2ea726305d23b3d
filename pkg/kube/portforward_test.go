package kube

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/containerd/errdefs"
	"k8s.io/client-go/tools/portforward"
)

func TestPortForwardRefusesBadPorts(t *testing.T) {
	c := &Client{Namespace: "ns"} // no cluster: the port is checked first
	for _, port := range []int{-1, 65536, 1 << 20} {
		err := c.PortForward(context.Background(), PortForwardOptions{Port: port}, nil)
		if !errdefs.IsInvalidArgument(err) || !strings.Contains(err.Error(), "65535") {
			t.Errorf("port %d: %v, want InvalidArgument naming the range", port, err)
		}
	}
}

func TestForwardErr(t *testing.T) {
	for _, tc := range []struct {
		name  string
		err   error
		is    func(error) bool
		wants string
	}{
		{"ended", nil, func(err error) bool { return err == nil }, ""},
		{"pod gone", fmt.Errorf("wrapped: %w", portforward.ErrLostConnectionToPod), errdefs.IsUnavailable, "run occ kube port-forward again"},
		{"other", errors.New("boom"), func(err error) bool { return err != nil }, "port-forward to pod p: boom"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := forwardErr("p", tc.err)
			if !tc.is(err) || (tc.wants != "" && !strings.Contains(err.Error(), tc.wants)) {
				t.Errorf("forwardErr(%v) = %v, want %q", tc.err, err, tc.wants)
			}
		})
	}
}

func TestFirstBytesKeepsOneKiB(t *testing.T) {
	var f firstBytes
	for _, chunk := range []int{100, 900, 100, 5000} {
		n, err := f.Write([]byte(strings.Repeat("x", chunk)))
		if n != chunk || err != nil {
			t.Fatalf("Write(%d) = %d, %v: a writer that drops must still report everything written", chunk, n, err)
		}
	}
	if f.Len() != 1024 {
		t.Errorf("kept %d bytes, want 1024", f.Len())
	}
}
