package meta

import (
	"strconv"
	"time"
)

// Names shared by every package. The local image names are the same whatever
// registry or build produced the image: the container always runs Current,
// and update/rollback keep the one before as Previous. The host part
// "opencode-cloud.local" is not a registry anyone can reach, so nothing ever
// tries to pull these names.
const (
	LocalImageRepo    = "opencode-cloud.local/sandbox"
	CurrentImageName  = LocalImageRepo + ":current"
	PreviousImageName = LocalImageRepo + ":previous"

	ContainerName = "opencode-cloud-sandbox"

	// ManagedByLabel=ManagedByValue marks every container and image occ owns.
	ManagedByLabel = "managed-by"
	ManagedByValue = "opencode-cloud"

	// LabelPrefix is the prefix of all of occ's own labels.
	LabelPrefix = "org.opencode-cloud."
	// ImageVersionLabel is the image-config label carrying the sandbox version.
	ImageVersionLabel = LabelPrefix + "version"
	// OpencodeVersionLabel is the image-config label carrying the opencode
	// release the sandbox runs (the Dockerfile's OPENCODE_VERSION).
	OpencodeVersionLabel = LabelPrefix + "opencode-version"
	// ImageRevisionLabel is the OCI label carrying the source revision the
	// sandbox image was built from (the Dockerfile's OCC_REVISION; empty
	// when the build was given none).
	ImageRevisionLabel = "org.opencontainers.image.revision"
)

// Provenance label keys on containerd image records.
const (
	LabelSource          = LabelPrefix + "source"
	LabelRegistry        = LabelPrefix + "registry"
	LabelRepository      = LabelPrefix + "repository"
	LabelReference       = LabelPrefix + "reference"
	LabelIndexDigest     = LabelPrefix + "index-digest"
	LabelManifestDigest  = LabelPrefix + "manifest-digest"
	LabelPlatform        = LabelPrefix + "platform"
	LabelAcquiredAt      = LabelPrefix + "acquired-at"
	LabelImageVersion    = LabelPrefix + "image-version"
	LabelBuildkitVersion = LabelPrefix + "build.buildkit-version"
	LabelBuildWorker     = LabelPrefix + "build.worker"
	LabelContextDigest   = LabelPrefix + "build.context-digest"
	LabelNoCache         = LabelPrefix + "build.no-cache"

	LabelVerifyPolicy   = LabelPrefix + "verify.policy"
	LabelVerified       = LabelPrefix + "verify.verified"
	LabelVerifyMethod   = LabelPrefix + "verify.method"
	LabelVerifyIdentity = LabelPrefix + "verify.identity"
	LabelVerifyIssuer   = LabelPrefix + "verify.issuer"
	LabelVerifySignedAt = LabelPrefix + "verify.signed-at"
	LabelVerifyBundle   = LabelPrefix + "verify.bundle-digest"
	LabelVerifyTime     = LabelPrefix + "verify.verified-at"
	LabelVerifyProblem  = LabelPrefix + "verify.problem"
)

// Provenance says where an image came from. It is stored twice: as labels on
// the containerd image record (the authority) and in the image-state file.
type Provenance struct {
	Source         string     `json:"source"`                    // prebuilt | build
	Registry       string     `json:"registry,omitempty"`        // e.g. ghcr.io
	Repository     string     `json:"repository,omitempty"`      // e.g. ghcr.io/opencode-cloud/occ-sandbox
	Reference      string     `json:"reference,omitempty"`       // what was asked for: repo:tag or repo@digest
	IndexDigest    string     `json:"index_digest,omitempty"`    // the index, when the reference named one
	ManifestDigest string     `json:"manifest_digest,omitempty"` // the platform manifest that was stored
	Platform       string     `json:"platform,omitempty"`        // os/arch[/variant]
	AcquiredAt     time.Time  `json:"acquired_at"`
	ImageVersion   string     `json:"image_version,omitempty"` // the image's org.opencode-cloud.version label
	Build          *BuildInfo `json:"build,omitempty"`
	// Verification is what the signature check found (nil: not checked,
	// image_verify off or a build).
	Verification *Verification `json:"verification,omitempty"`
}

// Verification is the outcome of checking an image's signature before it
// was recorded.
type Verification struct {
	Policy   string `json:"policy"`           // require | warn: the policy it was checked under
	Verified bool   `json:"verified"`         // false only under warn (require refuses instead)
	Method   string `json:"method,omitempty"` // keyless | key
	// Identity is the signer: the certificate's identity (keyless) or the
	// key's fingerprint (key); Issuer the OIDC issuer (keyless).
	Identity     string    `json:"identity,omitempty"`
	Issuer       string    `json:"issuer,omitempty"`
	SignedAt     time.Time `json:"signed_at,omitzero"`      // a verified timestamp (Rekor or a TSA), if any
	BundleDigest string    `json:"bundle_digest,omitempty"` // the Sigstore bundle blob that verified
	VerifiedAt   time.Time `json:"verified_at,omitzero"`
	Problem      string    `json:"problem,omitempty"` // why it did not verify (warn)
}

// Verification methods.
const (
	VerifyKeyless = "keyless"
	VerifyKey     = "key"
)

// BuildInfo is the provenance of an image built from source.
type BuildInfo struct {
	BuildkitVersion string `json:"buildkit_version,omitempty"`
	Worker          string `json:"worker,omitempty"` // containerd | oci
	ContextDigest   string `json:"context_digest,omitempty"`
	NoCache         bool   `json:"no_cache"`
}

// Labels renders p as containerd image labels.
func (p Provenance) Labels() map[string]string {
	l := map[string]string{ManagedByLabel: ManagedByValue, LabelSource: p.Source}
	set := func(k, v string) {
		if v != "" {
			l[k] = v
		}
	}
	set(LabelRegistry, p.Registry)
	set(LabelRepository, p.Repository)
	set(LabelReference, p.Reference)
	set(LabelIndexDigest, p.IndexDigest)
	set(LabelManifestDigest, p.ManifestDigest)
	set(LabelPlatform, p.Platform)
	set(LabelImageVersion, p.ImageVersion)
	if !p.AcquiredAt.IsZero() {
		l[LabelAcquiredAt] = p.AcquiredAt.UTC().Format(time.RFC3339Nano)
	}
	if b := p.Build; b != nil {
		set(LabelBuildkitVersion, b.BuildkitVersion)
		set(LabelBuildWorker, b.Worker)
		set(LabelContextDigest, b.ContextDigest)
		l[LabelNoCache] = strconv.FormatBool(b.NoCache)
	}
	if v := p.Verification; v != nil {
		l[LabelVerifyPolicy] = v.Policy
		l[LabelVerified] = strconv.FormatBool(v.Verified)
		set(LabelVerifyMethod, v.Method)
		set(LabelVerifyIdentity, v.Identity)
		set(LabelVerifyIssuer, v.Issuer)
		set(LabelVerifyBundle, v.BundleDigest)
		set(LabelVerifyProblem, truncate(v.Problem, 1024))
		if !v.SignedAt.IsZero() {
			l[LabelVerifySignedAt] = v.SignedAt.UTC().Format(time.RFC3339Nano)
		}
		if !v.VerifiedAt.IsZero() {
			l[LabelVerifyTime] = v.VerifiedAt.UTC().Format(time.RFC3339Nano)
		}
	}
	return l
}

// ProvenanceFromLabels reads provenance back from image labels. ok is false
// when the labels carry none (an image occ did not record).
func ProvenanceFromLabels(l map[string]string) (p Provenance, ok bool) {
	p.Source = l[LabelSource]
	if p.Source == "" {
		return Provenance{}, false
	}
	p.Registry = l[LabelRegistry]
	p.Repository = l[LabelRepository]
	p.Reference = l[LabelReference]
	p.IndexDigest = l[LabelIndexDigest]
	p.ManifestDigest = l[LabelManifestDigest]
	p.Platform = l[LabelPlatform]
	p.ImageVersion = l[LabelImageVersion]
	if t, err := time.Parse(time.RFC3339Nano, l[LabelAcquiredAt]); err == nil {
		p.AcquiredAt = t
	}
	if p.Source == SourceBuild {
		nc, _ := strconv.ParseBool(l[LabelNoCache])
		p.Build = &BuildInfo{
			BuildkitVersion: l[LabelBuildkitVersion],
			Worker:          l[LabelBuildWorker],
			ContextDigest:   l[LabelContextDigest],
			NoCache:         nc,
		}
	}
	if pol := l[LabelVerifyPolicy]; pol != "" {
		ok, _ := strconv.ParseBool(l[LabelVerified])
		v := &Verification{Policy: pol, Verified: ok, Method: l[LabelVerifyMethod], Identity: l[LabelVerifyIdentity],
			Issuer: l[LabelVerifyIssuer], BundleDigest: l[LabelVerifyBundle], Problem: l[LabelVerifyProblem]}
		v.SignedAt, _ = time.Parse(time.RFC3339Nano, l[LabelVerifySignedAt])
		v.VerifiedAt, _ = time.Parse(time.RFC3339Nano, l[LabelVerifyTime])
		p.Verification = v
	}
	return p, true
}

// truncate keeps s within n bytes (containerd limits a label to 4 KiB).
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-3] + "..."
}
