// Command pause is the pod sandbox's process on hack/kube/cluster's node: it holds the pod's
// namespaces until it is told to stop. The node reaches no registry but the testbed's, so the
// image (registry.k8s.io/pause elsewhere) is built from this and pushed there.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	c := make(chan os.Signal, 1)
	signal.Notify(c, syscall.SIGINT, syscall.SIGTERM)
	<-c
}
