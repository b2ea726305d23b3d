package kube

import (
	"context"
	"fmt"
	"strings"

	"github.com/containerd/errdefs"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/opencode-cloud/occ/pkg/meta"
	"github.com/opencode-cloud/occ/pkg/runtime"
)

// Verifier checks an image's signature before the cluster is told to run
// it, and describes the check for the StatefulSet's annotation ("" when
// the policy checked nothing). It refuses with an error.
type Verifier func(ctx context.Context, ref name.Digest) (string, error)

// Current is what runs now: the StatefulSet's image and the image before
// it ("" when there is no StatefulSet yet).
func (c *Client) Current(ctx context.Context) (image, previous string, err error) {
	sts, err := c.Clientset.AppsV1().StatefulSets(c.Namespace).Get(ctx, Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return "", "", nil
	}
	if err != nil {
		return "", "", fmt.Errorf("read statefulset %s/%s: %w", c.Namespace, Name, classify(err))
	}
	return sandboxImage(sts), sts.Annotations[AnnotationPrevious], nil
}

// DeployOptions describe an apply of the whole instance.
type DeployOptions struct {
	Config *meta.Config
	// Image is the image to run, by digest (PinnedImage).
	Image string
	// Verify checks Image before anything is applied; nil checks nothing.
	Verify Verifier
	// Users replaces the records; nil keeps the Secret's current ones.
	Users []runtime.UserRecord
	// HostUsers: Options.HostUsers.
	HostUsers bool
	DryRun    bool
}

// Deployed is what Deploy did.
type Deployed struct {
	Image    string    `json:"image"`
	Previous string    `json:"previous,omitempty"`
	Verified string    `json:"verified,omitempty"`
	Applied  []Applied `json:"applied"`
}

// Deploy verifies the image, then applies every manifest (server-side
// apply). The users come from the Secret unless given, so a redeploy
// keeps them; when the image changes, the one it replaces is recorded for
// rollback.
func (c *Client) Deploy(ctx context.Context, o DeployOptions) (*Deployed, error) {
	image, err := PinnedImage(o.Image)
	if err != nil {
		return nil, err
	}
	dgst, err := name.NewDigest(image)
	if err != nil {
		return nil, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("image %s: %v", image, err))
	}
	d := &Deployed{Image: image}
	if o.Verify != nil {
		if d.Verified, err = o.Verify(ctx, dgst); err != nil {
			return nil, fmt.Errorf("signature of %s: %w (nothing was applied)", image, err)
		}
	}
	cur, prev, err := c.Current(ctx)
	if err != nil {
		return nil, err
	}
	d.Previous = prev
	if cur != "" && cur != image {
		d.Previous = cur
	}
	users := o.Users
	if users == nil {
		if users, err = c.Users(ctx); err != nil {
			return nil, err
		}
	}
	m, err := Render(Options{Config: o.Config, Image: image, Users: sortedUsers(users), Previous: d.Previous,
		Verified: d.Verified, Namespace: c.Namespace, HostUsers: o.HostUsers})
	if err != nil {
		return nil, err
	}
	d.Applied, err = c.Apply(ctx, m, ApplyOptions{DryRun: o.DryRun})
	return d, err
}

// Rollback deploys the image recorded before the last update (verified
// again: the policy may have changed since).
func (c *Client) Rollback(ctx context.Context, o DeployOptions) (*Deployed, error) {
	cur, prev, err := c.Current(ctx)
	if err != nil {
		return nil, err
	}
	if cur == "" {
		return nil, errdefs.ErrNotFound.WithMessage(fmt.Sprintf("no sandbox in namespace %s to roll back: occ kube apply deploys one", c.Namespace))
	}
	if prev == "" || prev == cur {
		return nil, errdefs.ErrFailedPrecondition.WithMessage("no previous image recorded: nothing to roll back to (occ update --kube records one)")
	}
	o.Image = prev
	return c.Deploy(ctx, o)
}

// ResolveImage turns the config's image (image_digest, else image_tag or
// the sandbox tag of this occ, in image_repositories' first repository)
// or ref, when given, into repository@digest, asking the registry for a
// tag's digest. The cluster pulls exactly that digest.
func ResolveImage(ctx context.Context, cfg *meta.Config, ref string) (string, error) {
	if ref == "" {
		if len(cfg.ImageRepositories) == 0 {
			return "", errdefs.ErrInvalidArgument.WithMessage("image_repositories is empty: set one, or give --image REPOSITORY@sha256:…")
		}
		repo := cfg.ImageRepositories[0]
		if cfg.ImageDigest != "" {
			ref = repo + "@" + cfg.ImageDigest
		} else {
			ref = repo + ":" + cfg.PullTag()
		}
	}
	if strings.Contains(ref, "@") {
		return PinnedImage(ref)
	}
	opts := []name.Option{}
	for _, r := range cfg.InsecureRegistries {
		if strings.HasPrefix(ref, strings.TrimSuffix(r, "/")+"/") {
			opts = append(opts, name.Insecure)
		}
	}
	tag, err := name.NewTag(ref, opts...)
	if err != nil {
		return "", errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("image %q: %v", ref, err))
	}
	desc, err := remote.Head(tag, remote.WithContext(ctx), remote.WithAuthFromKeychain(authn.DefaultKeychain))
	if err != nil {
		return "", fmt.Errorf("resolve %s: %w", ref, err)
	}
	return PinnedImage(tag.Context().Name() + "@" + desc.Digest.String())
}
