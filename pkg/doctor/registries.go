package doctor

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/opencode-cloud/occ/pkg/meta"
	"github.com/opencode-cloud/occ/pkg/registry"
	"github.com/opencode-cloud/occ/pkg/trust"
)

// Registries checks every configured repository: that the image occ
// would pull is there, that it is an occ sandbox, and that its signature
// satisfies the policy. One reachable repository is enough (the others
// are fallbacks), and none is needed unless images are pulled.
//
// pkg/registry has no call for a manifest HEAD or a remote image config,
// so these two go through go-containerregistry's remote here, with the
// transport and credentials pulls use (remoteOptions): a registry reached
// through a certs.d mirror or with a private CA is reported as a pull
// sees it, and a hosts.toml that does not parse fails the check.
func Registries(ctx context.Context, env *Env) []Check {
	cfg := env.Config
	needed := cfg.ImageSource == meta.SourcePrebuilt
	var out, bad []Check // bad: references that do not parse (always a failure)
	anyOK := false
	for _, repo := range cfg.ImageRepositories {
		r, parsed := registryCheck(ctx, env, repo)
		if !parsed {
			bad = append(bad, r)
			continue
		}
		anyOK = anyOK || r.Status == OK
		out = append(out, r)
	}
	for i := range out {
		switch {
		case out[i].Status == OK:
		case anyOK || !needed:
			out[i].Status = Warn
		default:
			out[i].Status = Fail
		}
	}
	return append(out, bad...)
}

// registryCheck checks one repository; parsed is false when the
// reference occ would pull does not parse.
func registryCheck(ctx context.Context, env *Env, repo string) (r Check, parsed bool) {
	cfg := env.Config
	r = Check{Name: "registry " + repo}
	ref := repo + ":" + cfg.PullTag()
	if cfg.ImageDigest != "" {
		ref = repo + "@" + cfg.ImageDigest
	}
	var opts []name.Option
	if host := registryHost(repo); InsecureHost(cfg, host) {
		opts = append(opts, name.Insecure)
	}
	pr, err := name.ParseReference(ref, opts...)
	if err != nil {
		r.Status, r.Detail, r.Fix = Fail, err.Error(), "fix image_repositories / image_tag / image_digest"
		return r, false
	}
	host := pr.Context().RegistryStr()
	if _, err := env.registryHosts().Lookup(ctx, host); err != nil {
		r.Status, r.Detail = Fail, oneLine(err)
		r.Fix = "fix the hosts.toml named above (containerd's format), or move it away to reach " + host + " directly"
		return r, true
	}
	cctx, cancel := context.WithTimeout(ctx, 2*checkTimeout)
	desc, err := remote.Head(pr, append(env.remoteOptions(), remote.WithContext(cctx))...)
	cancel()
	if err != nil {
		r.Status, r.Detail, r.Fix = RegistryFailure(ref, pr.Context().RegistryStr(), err)
		return r, true
	}
	r.Status, r.Detail = OK, fmt.Sprintf("%s reachable (%s)", ref, shortDigest(desc.Digest.String()))
	servedImage(ctx, env, repo, pr, desc.Digest.String(), &r)
	return r, true
}

// servedImage looks at what a reachable repository serves: it must be an
// occ sandbox (the org.opencode-cloud.version label in its config for
// this host's platform), and its signature must satisfy the policy for
// that repository. Both are said here, before a pull records the image
// and `occ user` fails on it.
func servedImage(ctx context.Context, env *Env, repo string, ref name.Reference, dgst string, r *Check) {
	cfg := env.Config
	cctx, cancel := context.WithTimeout(ctx, 2*checkTimeout)
	defer cancel()
	ropts := append(env.remoteOptions(), remote.WithContext(cctx))
	hp := registry.HostPlatform()
	img, err := remote.Image(ref, append(ropts, remote.WithPlatform(v1.Platform{OS: hp.OS, Architecture: hp.Architecture, Variant: hp.Variant}))...)
	var cf *v1.ConfigFile
	if err == nil {
		cf, err = img.ConfigFile()
	}
	if err != nil {
		r.Status, r.Detail = Warn, r.Detail+"; cannot read its image config: "+oneLine(err)
		return
	}
	ver := cf.Config.Labels[meta.ImageVersionLabel]
	if ver == "" {
		r.Status = Fail
		r.Detail += "; NOT an occ sandbox image (no " + meta.ImageVersionLabel + " label): occ cannot run it (no login gateway, no opencode-cloud-users)"
		r.Fix = "use occ's own sandbox: occ config set image_repositories " + strings.Join(meta.DefaultImageRepositories, ",") +
			" (or build it: occ config set image_source build)"
		return
	}
	r.Detail += ", occ sandbox " + ver
	mode := cfg.VerifyMode(repo)
	if mode == meta.VerifyOff {
		r.Detail += ", signature not checked (image_verify off)"
		return
	}
	p, err := trust.PolicyFromConfig(cfg, env.Paths.TrustedRootFile())
	if err != nil {
		r.Status, r.Detail, r.Fix = Fail, r.Detail+"; "+oneLine(err), "fix the file named in the config"
		return
	}
	v, err := p.Check(cctx, mode, ref.Context().Digest(dgst), ropts...)
	signatureCheck(mode, v, err, r)
}

// signatureCheck adds the outcome of a signature check to r.
func signatureCheck(mode string, v *meta.Verification, err error, r *Check) {
	switch {
	case err != nil:
		r.Status = Fail
		r.Detail += "; signature refused (image_verify " + mode + "): " + oneLine(err)
		var h trust.Hinter
		if errors.As(err, &h) {
			r.Fix = h.Hint()
		}
	case v == nil:
	case v.Verified:
		r.Detail += ", signature verified: " + trust.Describe(v)
	default:
		r.Status = Warn
		r.Detail += "; signature NOT verified (image_verify " + mode + " pulls it anyway): " + v.Problem
		r.Fix = "publish a signed image, or point image_verify_key / image_verify_identity at its signer"
	}
}

// registryHosts is the certs.d configuration pulls read: Env.Hosts, else
// certs.d beside the config file, then containerd's.
func (e *Env) registryHosts() *registry.Hosts {
	if e.Hosts == nil {
		e.Hosts = registry.NewHosts(registry.DefaultCertsDirs(e.Paths.ConfigDir())...)
	}
	return e.Hosts
}

// remoteOptions reach registries as pulls do: through the mirrors, CAs
// and client certificates of hosts.toml, with registry.Keychain's
// credentials (the Docker config, else podman's auth.json).
func (e *Env) remoteOptions() []remote.Option {
	base := remote.DefaultTransport.(*http.Transport).Clone()
	return []remote.Option{
		remote.WithTransport(e.registryHosts().Transport(base)),
		remote.WithAuthFromKeychain(registry.Keychain),
	}
}

// InsecureHost says whether occ talks plain HTTP to host: it is listed in
// insecure_registries, or it is a loopback address.
func InsecureHost(cfg *meta.Config, host string) bool {
	if slices.Contains(cfg.InsecureRegistries, host) {
		return true
	}
	h := host
	if hh, _, err := net.SplitHostPort(host); err == nil {
		h = hh
	}
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(strings.Trim(h, "[]"))
	return ip != nil && ip.IsLoopback()
}

func registryHost(repo string) string {
	r, err := name.NewRepository(repo)
	if err != nil {
		return ""
	}
	return r.RegistryStr()
}

// RegistryFailure explains why a manifest HEAD failed: the status, the
// detail and the fix.
func RegistryFailure(ref, host string, err error) (Status, string, string) {
	var te *transport.Error
	if errors.As(err, &te) {
		switch te.StatusCode {
		case http.StatusUnauthorized, http.StatusForbidden:
			return Fail, fmt.Sprintf("%s: access denied (HTTP %d)", ref, te.StatusCode),
				fmt.Sprintf("occ login %s (credentials are read from the Docker config, else podman's auth.json), or check that the repository is public", host)
		case http.StatusNotFound:
			return Warn, ref + ": not found (the tag or digest is not published there)",
				"check image_tag / image_digest, or remove this repository from image_repositories"
		}
		return Fail, fmt.Sprintf("%s: HTTP %d", ref, te.StatusCode), "try again later; the registry answered with an error"
	}
	msg := oneLine(err)
	fix := "check the network and DNS, or proxy settings ($HTTPS_PROXY)"
	if strings.Contains(msg, "server gave HTTP response to HTTPS client") {
		fix = "this registry speaks plain HTTP: occ config set insecure_registries " + host
	} else if strings.Contains(msg, "certificate") || strings.Contains(msg, "x509") {
		fix = "install the registry's CA certificate, or (test registries only) occ config set insecure_registries " + host
	}
	if errors.Is(err, context.DeadlineExceeded) {
		msg = fmt.Sprintf("no answer within %s", 2*checkTimeout)
	}
	return Fail, ref + ": " + msg, fix
}

// shortDigest is the algorithm and the first 12 hex digits of d.
func shortDigest(d string) string {
	if len(d) > 19 {
		return d[:19]
	}
	return d
}
