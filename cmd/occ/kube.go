package main

import (
	"context"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/opencode-cloud/occ/pkg/kube"
	"github.com/opencode-cloud/occ/pkg/meta"
)

// KubeCmd runs the sandbox on a Kubernetes cluster (docs/kubernetes.md):
// the same image, by digest and verified, with its users, volumes, limits
// and isolation, as Kubernetes objects occ applies with server-side apply.
type KubeCmd struct {
	Render KubeRenderCmd `cmd:"" help:"Print the instance's manifests (YAML) without touching a cluster."`
	Apply  KubeApplyCmd  `cmd:"" help:"Verify the image and server-side apply the manifests to the cluster."`
	Status KubeStatusCmd `cmd:"" help:"Show the StatefulSet and its pod."`
	Logs   KubeLogsCmd   `cmd:"" help:"Show the sandbox pod's output from the API server."`
	Delete KubeDeleteCmd `cmd:"" help:"Delete the instance (its volumes and namespace only with --volumes)."`

	PortForward KubePortForwardCmd `cmd:"" name:"port-forward" help:"Forward a local port to the sandbox pod's gateway through the API server."`
}

// kubeFlags select the cluster, as kubectl does.
type kubeFlags struct {
	Kubeconfig string `name:"kubeconfig" env:"KUBECONFIG" placeholder:"PATH" help:"kubeconfig file (default $KUBECONFIG, else ~/.kube/config)."`
	Context    string `name:"context" placeholder:"NAME" help:"kubeconfig context (over kube_context; default the current one)."`
	KubeNS     string `name:"kube-namespace" placeholder:"NS" help:"namespace of the sandbox (over kube_namespace; default opencode-cloud)."`
}

// namespace is the flag's, else the config's.
func (f kubeFlags) namespace(cfg *meta.Config) string {
	if f.KubeNS != "" {
		return f.KubeNS
	}
	if cfg.KubeNamespace != "" {
		return cfg.KubeNamespace
	}
	return meta.DefaultKubeNamespace
}

// connect opens the cluster the flags and config name.
func (f kubeFlags) connect(cfg *meta.Config) (*kube.Client, error) {
	kctx := f.Context
	if kctx == "" {
		kctx = cfg.KubeContext
	}
	// $KUBECONFIG may list several files: client-go's loading rules merge
	// them when no single file is forced.
	path := f.Kubeconfig
	if strings.Contains(path, ":") {
		path = ""
	}
	return kube.Connect(path, kctx, f.namespace(cfg))
}

// kubeVerifier checks an image under the config's signature policy
// (image_verify and the keys beside it) before the cluster runs it.
func kubeVerifier(app *App, cfg *meta.Config) (kube.Verifier, error) {
	p, err := verifyPolicy(cfg, app.Paths)
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context, ref name.Digest) (string, error) {
		mode := cfg.VerifyMode(ref.Context().Name())
		if mode == meta.VerifyOff {
			app.UI.Warnf("Signature of %s not checked (image_verify off).", ref.DigestStr())
			return "", nil
		}
		v, err := p.Check(ctx, mode, ref)
		if err != nil {
			return "", err
		}
		if v == nil {
			return "", nil
		}
		if !v.Verified {
			app.UI.Warnf("%s is not verified (%s): deploying anyway (image_verify %s)", ref.DigestStr(), v.Problem, mode)
			return "unverified (" + mode + ")", nil
		}
		desc := "verified " + v.Method
		if v.Identity != "" {
			desc += " " + v.Identity
		}
		return desc, nil
	}, nil
}

// hostUsersFlag is --no-userns: the pod shares the node's user namespace.
type hostUsersFlag struct {
	NoUserNS bool `name:"no-userns" help:"Leave out hostUsers: false (a user namespace per pod), for clusters whose nodes cannot run one (Kubernetes < 1.33, runc < 1.2, kernel < 6.3)."`
}

// open loads the config and connects to the cluster it (and the flags)
// name: the preamble of the kube commands that only read or delete.
func (f kubeFlags) open(app *App) (*kube.Client, error) {
	cfg, _, err := app.LoadConfig()
	if err != nil {
		return nil, err
	}
	return f.connect(cfg)
}
