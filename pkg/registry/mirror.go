package registry

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"github.com/containerd/containerd/v2/core/remotes/docker"
	"github.com/containerd/errdefs"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// MirrorPin is a reference resolved through a certs.d mirror.
type MirrorPin struct {
	Ref    string // the image on the mirror, by digest: MIRROR/REPO@sha256:…
	Mirror string // the mirror's host[:port]
	// Tried says why mirrors before the one that answered (or all of
	// them, when Ref is empty) were passed over.
	Tried []string
}

// ResolveViaMirror resolves ref through the mirrors hosts.toml names for
// its registry, in order, and returns it pinned by digest on the first
// mirror that has it: for a builder (BuildKit) that pulls with its own
// registry configuration and cannot be given occ's per request. A mirror
// is asked anonymously, with ns=<registry> as containerd asks it, and
// with the TLS settings its hosts.toml gives; it must have the
// capability the reference needs (resolve for a tag, pull for a digest)
// and serve under /v2. An empty Ref (and no error) means no mirror is
// configured or none answered: the builder pulls ref itself.
func ResolveViaMirror(ctx context.Context, hosts *Hosts, ref string) (MirrorPin, error) {
	var pin MirrorPin
	r, err := name.ParseReference(ref)
	if err != nil {
		return pin, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("base image %q: %v", ref, err))
	}
	endpoints, err := hosts.Lookup(ctx, r.Context().RegistryStr())
	if err != nil || len(endpoints) < 2 {
		return pin, err
	}
	need := docker.HostCapabilityResolve
	if _, ok := r.(name.Digest); ok {
		need = docker.HostCapabilityPull
	}
	for i := range endpoints[:len(endpoints)-1] {
		rh := &endpoints[i]
		if !rh.Capabilities.Has(need) {
			pin.Tried = append(pin.Tried, rh.Host+": not a "+capName(need)+" mirror")
			continue
		}
		if strings.TrimSuffix(rh.Path, "/") != "/v2" {
			pin.Tried = append(pin.Tried, fmt.Sprintf("%s: serves under %s, which a reference cannot name", rh.Host, rh.Path))
			continue
		}
		var nopts []name.Option
		if rh.Scheme == "http" {
			nopts = append(nopts, name.Insecure)
		}
		repo, err := name.NewRepository(rh.Host+"/"+r.Context().RepositoryStr(), nopts...)
		if err != nil {
			pin.Tried = append(pin.Tried, fmt.Sprintf("%s: %v", rh.Host, err))
			continue
		}
		var onMirror name.Reference = repo.Tag(r.Identifier())
		if d, ok := r.(name.Digest); ok {
			onMirror = repo.Digest(d.DigestStr())
		}
		var tr http.RoundTripper
		if rh.Client != nil {
			tr = rh.Client.Transport
		}
		if tr == nil {
			tr = http.DefaultTransport
		}
		desc, err := remote.Head(onMirror, remote.WithContext(ctx),
			remote.WithTransport(&nsTransport{inner: tr, ns: r.Context().RegistryStr()}))
		if err != nil {
			if ctx.Err() != nil {
				return pin, ctx.Err()
			}
			pin.Tried = append(pin.Tried, fmt.Sprintf("%s: %v", rh.Host, err))
			continue
		}
		pin.Ref, pin.Mirror = repo.Digest(desc.Digest.String()).String(), rh.Host
		return pin, nil
	}
	return pin, nil
}

func capName(c docker.HostCapabilities) string {
	if c == docker.HostCapabilityResolve {
		return "resolve"
	}
	return "pull"
}

// nsTransport adds ns=<registry> to every request, as containerd asks a
// mirror (a pull-through cache serving several registries needs it).
type nsTransport struct {
	inner http.RoundTripper
	ns    string
}

func (t *nsTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	req := r.Clone(r.Context())
	q := req.URL.Query()
	q.Set("ns", dockerHubName(t.ns))
	req.URL.RawQuery = q.Encode()
	return t.inner.RoundTrip(req)
}

func dockerHubName(reg string) string {
	if reg == name.DefaultRegistry || reg == "registry-1.docker.io" {
		return "docker.io"
	}
	return reg
}
