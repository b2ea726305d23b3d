package kube

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"

	"github.com/containerd/errdefs"
	"k8s.io/client-go/tools/portforward"
	"k8s.io/client-go/transport/spdy"
	"k8s.io/streaming/pkg/httpstream"

	"github.com/opencode-cloud/occ/pkg/runtime"
)

// PortForwardOptions say where the forwarded gateway listens on this
// machine.
type PortForwardOptions struct {
	// Address is the local address (default 127.0.0.1; "localhost" listens
	// on both loopback families).
	Address string
	// Port is the local port (0: a free one).
	Port int
	// Errors receives the forwarder's complaints about single connections
	// (nil: dropped).
	Errors io.Writer
}

// Forwarding is a port-forward once it listens.
type Forwarding struct {
	Pod   string `json:"pod"`
	Local string `json:"local"` // host:port on this machine
	// Remote is the pod's gateway port.
	Remote int    `json:"remote"`
	URL    string `json:"url"` // http://Local/
}

// PortForward forwards a local port to the gateway port of the running
// sandbox pod through the API server (as kubectl port-forward does:
// WebSocket, falling back to SPDY on an older server) until ctx ends or
// the pod goes. ready, when not nil, is called once the port listens.
// The cluster needs no Service or Ingress for it, and nothing is exposed
// beyond Address.
func (c *Client) PortForward(ctx context.Context, o PortForwardOptions, ready func(Forwarding)) error {
	if o.Port < 0 || o.Port > 65535 {
		return errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("port %d: give 0 (any free port) to 65535", o.Port))
	}
	addr := o.Address
	if addr == "" {
		addr = "127.0.0.1"
	}
	pod, err := c.RunningPod(ctx)
	if err != nil {
		return err
	}
	url := c.Clientset.CoreV1().RESTClient().Post().Resource("pods").
		Namespace(c.Namespace).Name(pod.Name).SubResource("portforward").URL()
	transport, upgrader, err := spdy.RoundTripperFor(c.REST)
	if err != nil {
		return fmt.Errorf("port-forward transport: %w", err)
	}
	dialer := spdy.NewDialerForStreaming(upgrader, &http.Client{Transport: transport}, http.MethodPost, url)
	if ws, err := portforward.NewSPDYOverWebsocketDialerForStreaming(url, c.REST); err == nil {
		dialer = portforward.NewFallbackDialerForStreaming(ws, dialer, func(err error) bool {
			return httpstream.IsUpgradeFailure(err) || httpstream.IsHTTPSProxyError(err)
		})
	}
	var complaints firstBytes
	errOut := io.Writer(&complaints)
	if o.Errors != nil {
		errOut = io.MultiWriter(&complaints, o.Errors)
	}
	readyCh := make(chan struct{})
	fctx, cancel := context.WithCancel(ctx)
	defer cancel()
	pf, err := portforward.NewOnAddressesForStreamingWithContext(fctx, dialer, []string{addr},
		[]string{strconv.Itoa(o.Port) + ":" + strconv.Itoa(runtime.ContainerPort)}, readyCh, io.Discard, errOut)
	if err != nil {
		return errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("port-forward %s:%d: %v", addr, o.Port, err))
	}
	done := make(chan error, 1)
	go func() { done <- pf.ForwardPorts() }()
	select {
	case err := <-done:
		if err != nil && strings.Contains(err.Error(), "unable to listen") {
			return errdefs.ErrFailedPrecondition.WithMessage(fmt.Sprintf(
				"cannot listen on %s port %d (%s): choose another --port, or 0 for a free one",
				addr, o.Port, strings.TrimSpace(complaints.String())))
		}
		return forwardErr(pod.Name, err)
	case <-readyCh:
	}
	ports, err := pf.GetPorts()
	if err != nil || len(ports) == 0 {
		cancel()
		<-done
		return fmt.Errorf("port-forward to pod %s: no local port: %w", pod.Name, err)
	}
	local := net.JoinHostPort(addr, strconv.Itoa(int(ports[0].Local)))
	if ready != nil {
		ready(Forwarding{Pod: pod.Name, Local: local, Remote: runtime.ContainerPort, URL: "http://" + local + "/"})
	}
	return forwardErr(pod.Name, <-done)
}

func forwardErr(pod string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, portforward.ErrLostConnectionToPod):
		return errdefs.ErrUnavailable.WithMessage(fmt.Sprintf(
			"lost the connection to pod %s (replaced or stopped? occ kube status says): run occ kube port-forward again", pod))
	}
	return fmt.Errorf("port-forward to pod %s: %w", pod, classify(err))
}

// firstBytes keeps the first KiB written to it: why the listen failed,
// without growing over a long forward.
type firstBytes struct{ bytes.Buffer }

func (f *firstBytes) Write(p []byte) (int, error) {
	if room := 1024 - f.Len(); room > 0 {
		f.Buffer.Write(p[:min(room, len(p))])
	}
	return len(p), nil
}
