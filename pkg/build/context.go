package build

import (
	"context"
	"embed"
	"encoding/binary"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/containerd/errdefs"
	digest "github.com/opencontainers/go-digest"
	"github.com/tonistiigi/fsutil"
	fstypes "github.com/tonistiigi/fsutil/types"
)

// sandboxFiles is the sandbox build context compiled into occ. The real
// sandbox Dockerfile and its files drop into pkg/build/sandbox/.
//
//go:embed all:sandbox
var sandboxFiles embed.FS

// SandboxContext returns the embedded sandbox build context.
func SandboxContext() fs.FS {
	sub, err := fs.Sub(sandboxFiles, "sandbox")
	if err != nil { // cannot happen: the directory is embedded
		panic(err)
	}
	return sub
}

// Context is a build context: the files BuildKit sees as the "context" and
// "dockerfile" local mounts.
type Context struct {
	// Name describes the context for messages ("embedded sandbox context" or a path).
	Name string
	// FS serves the files to BuildKit's filesync session, without a tarball.
	FS fsutil.FS
	// files is the same tree for hashing; embedded files have no
	// permission bits of their own and are sent (and hashed) as 0644.
	files    fs.FS
	embedded bool
}

// EmbeddedContext is the sandbox context compiled into occ.
func EmbeddedContext() *Context {
	f := SandboxContext()
	return &Context{Name: "embedded sandbox context", FS: NewIOFS(f), files: f, embedded: true}
}

// DirContext is a context directory on the host (occ image build --context DIR).
func DirContext(dir string) (*Context, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("build context %s: %w", dir, err)
	}
	st, err := os.Stat(abs)
	switch {
	case err != nil:
		return nil, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("build context %s cannot be read: %v (give a directory holding a Dockerfile)", dir, err))
	case !st.IsDir():
		return nil, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("build context %s is not a directory (give a directory holding a Dockerfile)", dir))
	}
	if _, err := os.Stat(filepath.Join(abs, "Dockerfile")); err != nil {
		return nil, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("build context %s has no Dockerfile: %v", dir, err))
	}
	fsys, err := fsutil.NewFS(abs)
	if err != nil {
		return nil, fmt.Errorf("build context %s: %w", dir, err)
	}
	return &Context{Name: abs, FS: fsys, files: os.DirFS(abs)}, nil
}

// Digest is a deterministic digest of the context: every entry's path,
// type, permission bits, symlink target and file content, in lexical order.
// Timestamps and ownership do not count, so the same files give the same
// digest wherever they come from (embedded or on disk).
func (c *Context) Digest() (digest.Digest, error) {
	d := digest.Canonical.Digester()
	h := d.Hash()
	field := func(s string) {
		var n [8]byte
		binary.BigEndian.PutUint64(n[:], uint64(len(s)))
		h.Write(n[:])
		io.WriteString(h, s)
	}
	err := fs.WalkDir(c.files, ".", func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == "." {
			return nil
		}
		info, err := e.Info()
		if err != nil {
			return err
		}
		mode := info.Mode()
		field(p)
		switch {
		case mode.IsDir():
			field("dir")
		case mode&fs.ModeSymlink != 0:
			target, err := fs.ReadLink(c.files, p)
			if err != nil {
				return err
			}
			field("symlink")
			field(target)
		case mode.IsRegular():
			perm := mode.Perm()
			if c.embedded {
				perm = 0o644
			}
			field(fmt.Sprintf("file %o", perm))
			f, err := c.files.Open(p)
			if err != nil {
				return err
			}
			fd := digest.Canonical.Digester()
			_, err = io.Copy(fd.Hash(), f)
			f.Close()
			if err != nil {
				return err
			}
			field(fd.Digest().String())
		default:
			field("other " + mode.Type().String())
		}
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("hash build context %s: %w", c.Name, err)
	}
	return d.Digest(), nil
}

// IOFS serves an io/fs.FS (such as an embed.FS) to BuildKit's filesync as
// an fsutil.FS, so that a context compiled into the binary needs no
// temporary directory or tarball. Directories are sent as 0755 and files as
// 0644, owned by root, with a zero timestamp (embedded files carry no mode
// or time; use COPY --chmod for executables).
type IOFS struct {
	fsys fs.FS
}

// NewIOFS wraps fsys.
func NewIOFS(fsys fs.FS) *IOFS { return &IOFS{fsys: fsys} }

var _ fsutil.FS = (*IOFS)(nil)

// Walk walks the tree under target (a path relative to the root, "" or "/"
// for all) in lexical order, as fsutil's own FS does.
func (f *IOFS) Walk(ctx context.Context, target string, fn fs.WalkDirFunc) error {
	root := cleanTarget(target)
	return fs.WalkDir(f.fsys, root, func(p string, e fs.DirEntry, walkErr error) error {
		if p == "." {
			return walkErr
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		var entry fs.DirEntry
		if e != nil {
			st := &fstypes.Stat{Path: filepath.FromSlash(p)}
			if e.IsDir() {
				st.Mode = uint32(fs.ModeDir | 0o755)
			} else {
				info, err := e.Info()
				if err != nil {
					return err
				}
				if !info.Mode().IsRegular() {
					return fmt.Errorf("build context entry %s: only regular files and directories can be embedded", p)
				}
				st.Mode = 0o644
				st.Size = info.Size()
			}
			entry = &fsutil.DirEntryInfo{Stat: st}
		}
		return fn(filepath.FromSlash(p), entry, walkErr)
	})
}

// Open opens a file by its path relative to the root.
func (f *IOFS) Open(p string) (io.ReadCloser, error) {
	return f.fsys.Open(cleanTarget(p))
}

func cleanTarget(p string) string {
	p = strings.TrimLeft(path.Clean("/"+filepath.ToSlash(p)), "/")
	if p == "" {
		return "."
	}
	return p
}
