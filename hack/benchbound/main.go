// Command benchbound measures the pipeline bound of `hack/bench table`: the
// CPU time it takes to fetch every layer of an image from the registry,
// decompress it and untar it into a directory, with nothing else (no content
// store, no snapshotter, no metadata). Divided over the machine's cores it is
// the wall time no puller on this machine can beat by more than the overlap
// it gets for free.
//
//	go run ./hack/benchbound -ref 127.0.0.1:5075/bench/pull:latest -dir /tmp/x [-gzip std|klauspost] [-jobs N]
//
// It prints one line of key value pairs:
//
//	layers N compressed_bytes N cpu_seconds F wall_seconds F cores N bound_seconds F
//
// cpu_seconds is this process's user+system CPU (fetch, decompress, untar,
// file writes in the kernel); bound_seconds is cpu_seconds / cores. Layers
// are handled by -jobs workers at once (default: the number of cores).
package main

import (
	"archive/tar"
	stdgzip "compress/gzip"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
	kgzip "github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

func main() {
	ref := flag.String("ref", "", "image to fetch (REGISTRY/REPO:TAG or @DIGEST); loopback registries are plain HTTP")
	dir := flag.String("dir", "", "directory to untar into (emptied first and removed after)")
	gz := flag.String("gzip", "klauspost", "gzip decoder: std (compress/gzip) or klauspost (github.com/klauspost/compress/gzip)")
	jobs := flag.Int("jobs", runtime.NumCPU(), "layers handled at once")
	flag.Parse()
	if *ref == "" || *dir == "" {
		fmt.Fprintln(os.Stderr, "benchbound: -ref and -dir are required")
		os.Exit(2)
	}
	if *gz != "std" && *gz != "klauspost" {
		fmt.Fprintln(os.Stderr, "benchbound: -gzip must be std or klauspost")
		os.Exit(2)
	}
	if err := run(*ref, *dir, *gz, max(*jobs, 1)); err != nil {
		fmt.Fprintln(os.Stderr, "benchbound:", err)
		os.Exit(1)
	}
}

func run(refStr, dir, gz string, jobs int) error {
	ref, err := name.ParseReference(refStr)
	if err != nil {
		return err
	}
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	cpu0, wall0 := cpuSeconds(), time.Now()
	img, err := remote.Image(ref, remote.WithPlatform(v1.Platform{OS: "linux", Architecture: runtime.GOARCH}))
	if err != nil {
		return fmt.Errorf("resolve %s: %w", ref, err)
	}
	layers, err := img.Layers()
	if err != nil {
		return err
	}
	var (
		mu    sync.Mutex
		total int64
		errs  []error
		wg    sync.WaitGroup
		sem   = make(chan struct{}, jobs)
	)
	for i, l := range layers {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			n, err := layer(l, filepath.Join(dir, fmt.Sprint(i)), gz)
			mu.Lock()
			defer mu.Unlock()
			total += n
			if err != nil {
				errs = append(errs, fmt.Errorf("layer %d: %w", i, err))
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	cpu, wall := cpuSeconds()-cpu0, time.Since(wall0).Seconds()
	cores := runtime.NumCPU()
	fmt.Printf("layers %d compressed_bytes %d cpu_seconds %.3f wall_seconds %.3f cores %d bound_seconds %.3f\n",
		len(layers), total, cpu, wall, cores, cpu/float64(cores))
	return nil
}

// countingReader counts the compressed bytes read off the wire.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// layer fetches one layer, decompresses it and untars it into dir; it returns the compressed size.
func layer(l v1.Layer, dir, gz string) (int64, error) {
	mt, err := l.MediaType()
	if err != nil {
		return 0, err
	}
	rc, err := l.Compressed()
	if err != nil {
		return 0, err
	}
	defer rc.Close()
	cr := &countingReader{r: rc}
	var r io.Reader
	switch {
	case strings.Contains(string(mt), "zstd"):
		d, err := zstd.NewReader(cr)
		if err != nil {
			return 0, err
		}
		defer d.Close()
		r = d
	case mt == types.OCIUncompressedLayer || mt == types.OCIUncompressedRestrictedLayer:
		r = cr
	case gz == "std":
		z, err := stdgzip.NewReader(cr)
		if err != nil {
			return 0, err
		}
		defer z.Close()
		r = z
	default:
		z, err := kgzip.NewReader(cr)
		if err != nil {
			return 0, err
		}
		defer z.Close()
		r = z
	}
	if err := untar(r, dir); err != nil {
		return cr.n, err
	}
	// Drain what follows the tar's end (padding), as a puller that verifies the digest must.
	_, err = io.Copy(io.Discard, r)
	return cr.n, err
}

// untar writes the files, directories and links of a tar stream under dir
// (no ownership, no xattrs, whiteouts written as plain files).
func untar(r io.Reader, dir string) error {
	tr := tar.NewReader(r)
	buf := make([]byte, 1<<20)
	made := map[string]bool{}
	mkdir := func(d string) error {
		if made[d] {
			return nil
		}
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
		made[d] = true
		return nil
	}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		p := filepath.Join(dir, filepath.Clean("/"+h.Name))
		switch h.Typeflag {
		case tar.TypeDir:
			if err := mkdir(p); err != nil {
				return err
			}
		case tar.TypeReg:
			if err := mkdir(filepath.Dir(p)); err != nil {
				return err
			}
			f, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, os.FileMode(h.Mode)&0o777|0o600)
			if err != nil {
				return err
			}
			if _, err := io.CopyBuffer(f, tr, buf); err != nil {
				f.Close()
				return err
			}
			if err := f.Close(); err != nil {
				return err
			}
		case tar.TypeSymlink:
			if err := mkdir(filepath.Dir(p)); err != nil {
				return err
			}
			_ = os.Remove(p)
			if err := os.Symlink(h.Linkname, p); err != nil {
				return err
			}
		case tar.TypeLink:
			if err := mkdir(filepath.Dir(p)); err != nil {
				return err
			}
			_ = os.Remove(p)
			if err := os.Link(filepath.Join(dir, filepath.Clean("/"+h.Linkname)), p); err != nil {
				return err
			}
		}
	}
}

func cpuSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	tv := func(t syscall.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }
	return tv(ru.Utime) + tv(ru.Stime)
}
