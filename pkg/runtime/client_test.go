package runtime

import (
	"context"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/containerd/errdefs"
)

// Connect's errors must say what to check; none of these cases needs a
// running containerd.
func TestConnectErrors(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	httpSock := filepath.Join(dir, "http.sock")
	l, err := net.Listen("unix", httpSock)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.NotFoundHandler()}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })

	tests := []struct {
		name    string
		addr    string
		is      func(error) bool
		message string
	}{
		{"missing socket", filepath.Join(dir, "nope.sock"), errdefs.IsUnavailable, "containerd is not running"},
		{"unix URL", "unix://" + filepath.Join(dir, "nope.sock"), errdefs.IsUnavailable, "containerd_address"},
		{"not a socket", file, errdefs.IsInvalidArgument, "is not a socket"},
		{"not containerd", httpSock, func(error) bool { return true }, "is this its socket"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			c, err := Connect(ctx, tt.addr, "ns", "overlayfs")
			if err == nil {
				c.Close()
				t.Fatal("connected")
			}
			if !tt.is(err) || !strings.Contains(err.Error(), tt.message) {
				t.Fatalf("error %q (classified wrong or lacks %q)", err, tt.message)
			}
			if testing.Verbose() {
				t.Log(err)
			}
		})
	}
}
