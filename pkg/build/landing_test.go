package build

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/containerd/containerd/v2/core/content"
	"github.com/containerd/containerd/v2/core/images"
	"github.com/moby/buildkit/client"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// landingStore is a fakeStore that imports archives and hands out an
// ingest, recording what the landings asked of it.
type landingStore struct {
	fakeStore
	importErr error
	imported  []byte
	deleted   []string
	released  bool
}

func (s *landingStore) ImportOCIArchive(_ context.Context, name string, r io.Reader) (images.Image, error) {
	b, err := io.ReadAll(r)
	s.imported = b
	if err != nil {
		return images.Image{}, err
	}
	if s.importErr != nil {
		return images.Image{}, s.importErr
	}
	return images.Image{Name: name, Target: ocispec.Descriptor{Digest: "sha256:aa"}}, nil
}

func (s *landingStore) BeginIngest(context.Context) (content.Store, func(context.Context) error, error) {
	return nil, func(context.Context) error { s.released = true; return nil }, nil
}

func (s *landingStore) DeleteImage(_ context.Context, name string) error {
	s.deleted = append(s.deleted, name)
	return nil
}

func TestNewLander(t *testing.T) {
	tests := []struct {
		name         string
		direct, arch bool
		workerSnap   string
		want         Landing
		wantType     string
		wantUnpacked bool
		wantAttr     string
		wantDeleted  bool
		wantReleased bool
	}{
		{"direct, same snapshotter", true, false, "overlayfs", LandDirect, client.ExporterImage, true, "unpack", true, false},
		{"direct, other snapshotter", true, false, "native", LandDirect, client.ExporterImage, false, "", true, false},
		{"archive", false, true, "", LandArchive, client.ExporterOCI, false, "", true, false},
		{"content store", false, false, "", LandContentStore, client.ExporterOCI, false, "tar", false, true},
		{"direct wins over archive", true, true, "overlayfs", LandDirect, client.ExporterImage, true, "unpack", true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			store := &landingStore{fakeStore: fakeStore{ns: "n", snap: "overlayfs"}}
			l := newLander(tt.direct, tt.arch, store, WorkerInfo{Snapshotter: tt.workerSnap}, "tmp", func(string, ...any) {})
			if l.landing() != tt.want {
				t.Fatalf("landing %q, want %q", l.landing(), tt.want)
			}
			ctx := context.Background()
			e, err := l.export(ctx, map[string]string{"name": "tmp"})
			if err != nil {
				t.Fatal(err)
			}
			if e.Type != tt.wantType || e.Attrs["name"] != "tmp" || l.unpacked() != tt.wantUnpacked {
				t.Errorf("export %+v, unpacked %v", e, l.unpacked())
			}
			if _, ok := e.Attrs[tt.wantAttr]; tt.wantAttr != "" && !ok {
				t.Errorf("attrs lack %q: %v", tt.wantAttr, e.Attrs)
			}
			if err := l.solved(ctx, errors.New("solve failed")); err != nil {
				t.Errorf("solved after a failed solve: %v", err)
			}
			l.cleanup(ctx)
			if got := len(store.deleted) == 1 && store.deleted[0] == "tmp"; got != tt.wantDeleted {
				t.Errorf("deleted %v", store.deleted)
			}
			if store.released != tt.wantReleased {
				t.Errorf("released %v", store.released)
			}
		})
	}
}

func TestArchiveLandingImport(t *testing.T) {
	tests := []struct {
		name      string
		importErr error
		wantErr   string
	}{
		{"imported", nil, ""},
		{"import fails", errors.New("bad archive"), "import the built image into containerd (namespace n): bad archive"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			store := &landingStore{fakeStore: fakeStore{ns: "n"}, importErr: tt.importErr}
			l := newLander(false, true, store, WorkerInfo{}, "tmp", func(string, ...any) {})
			ctx := context.Background()
			e, err := l.export(ctx, map[string]string{})
			if err != nil {
				t.Fatal(err)
			}
			w, _ := e.Output(nil)
			if _, err := io.WriteString(w, "tarball"); err != nil {
				t.Fatal(err)
			}
			err = l.solved(ctx, nil)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				if got, _ := l.target(ctx, nil, ""); got.Digest != "sha256:aa" || string(store.imported) != "tarball" {
					t.Errorf("target %v, imported %q", got, store.imported)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("solved: %v, want %q", err, tt.wantErr)
			}
		})
	}
}
