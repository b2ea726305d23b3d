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
)

// Provenance says where an image came from. It is stored twice: as labels on
// the containerd image record (the authority) and in the image-state file.
type Provenance struct {
	Source         string     `json:"source"`                    // prebuilt | build
	Registry       string     `json:"registry,omitempty"`        // e.g. ghcr.io
	Repository     string     `json:"repository,omitempty"`      // e.g. ghcr.io/prizz/opencode-cloud-sandbox
	Reference      string     `json:"reference,omitempty"`       // what was asked for: repo:tag or repo@digest
	IndexDigest    string     `json:"index_digest,omitempty"`    // the index, when the reference named one
	ManifestDigest string     `json:"manifest_digest,omitempty"` // the platform manifest that was stored
	Platform       string     `json:"platform,omitempty"`        // os/arch[/variant]
	AcquiredAt     time.Time  `json:"acquired_at"`
	ImageVersion   string     `json:"image_version,omitempty"` // the image's org.opencode-cloud.version label
	Build          *BuildInfo `json:"build,omitempty"`
}

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
	return p, true
}
