package build

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/containerd/errdefs"
	"github.com/moby/buildkit/client"
	digest "github.com/opencontainers/go-digest"
	"github.com/tonistiigi/fsutil"
	fstypes "github.com/tonistiigi/fsutil/types"
)

func TestParseBuildArgs(t *testing.T) {
	env := map[string]string{"FROM_ENV": "e"}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	tests := []struct {
		name    string
		in      []string
		want    map[string]string
		wantErr string
	}{
		{name: "empty", in: nil, want: map[string]string{}},
		{name: "pairs", in: []string{"A=1", "B=x=y", "C="}, want: map[string]string{"A": "1", "B": "x=y", "C": ""}},
		{name: "bare from env", in: []string{"FROM_ENV", "UNSET"}, want: map[string]string{"FROM_ENV": "e"}},
		{name: "base image", in: []string{"BASE_IMAGE=reg/x:1"}, want: map[string]string{"BASE_IMAGE": "reg/x:1"}},
		{name: "epoch", in: []string{"SOURCE_DATE_EPOCH=1700000000"}, want: map[string]string{"SOURCE_DATE_EPOCH": "1700000000"}},
		{name: "bad epoch", in: []string{"SOURCE_DATE_EPOCH=yesterday"}, wantErr: "Unix time"},
		{name: "version reserved", in: []string{"OCC_VERSION=dev"}, wantErr: "occ sets it"},
		{name: "bad key", in: []string{"1A=x"}, wantErr: "KEY=value"},
		{name: "empty key", in: []string{"=x"}, wantErr: "KEY=value"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseBuildArgs(tt.in, lookup)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !errdefs.IsInvalidArgument(err) {
					t.Fatalf("err = %v, want invalid argument containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestParseCache(t *testing.T) {
	abs := func(p string) string { a, _ := filepath.Abs(p); return a }
	tests := []struct {
		name    string
		export  bool
		in      string
		want    client.CacheOptionsEntry
		wantErr string
	}{
		{name: "local import", in: "type=local,src=cache", want: client.CacheOptionsEntry{Type: "local", Attrs: map[string]string{"src": abs("cache")}}},
		{name: "local export default mode", export: true, in: "type=local,dest=/c", want: client.CacheOptionsEntry{Type: "local", Attrs: map[string]string{"dest": "/c", "mode": "max"}}},
		{name: "registry export min", export: true, in: "type=registry,ref=r/x:c,mode=min", want: client.CacheOptionsEntry{Type: "registry", Attrs: map[string]string{"ref": "r/x:c", "mode": "min"}}},
		{name: "registry import", in: `type=registry,"ref=r/x:c"`, want: client.CacheOptionsEntry{Type: "registry", Attrs: map[string]string{"ref": "r/x:c"}}},
		{name: "key case", in: "TYPE=registry,Ref=r/x", want: client.CacheOptionsEntry{Type: "registry", Attrs: map[string]string{"ref": "r/x"}}},
		{name: "local import wants src", in: "type=local,dest=/c", wantErr: "src=DIR"},
		{name: "local export wants dest", export: true, in: "type=local,src=/c", wantErr: "dest=DIR"},
		{name: "registry wants ref", in: "type=registry", wantErr: "ref=REPO:TAG"},
		{name: "no type", in: "ref=r/x", wantErr: "missing type="},
		{name: "unsupported", in: "type=gha", wantErr: `"gha" is not supported`},
		{name: "not kv", in: "type=local,cache", wantErr: "not key=value"},
		{name: "bad mode", export: true, in: "type=registry,ref=r,mode=all", wantErr: "mode must be"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			parse := ParseCacheImports
			if tt.export {
				parse = ParseCacheExports
			}
			got, err := parse([]string{tt.in})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !errdefs.IsInvalidArgument(err) {
					t.Fatalf("err = %v, want invalid argument containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 1 || !reflect.DeepEqual(got[0], tt.want) {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestEmbeddedContextHasVersionedDockerfile(t *testing.T) {
	df, err := fs.ReadFile(SandboxContext(), "Dockerfile")
	if err != nil {
		t.Fatalf("embedded context has no Dockerfile: %v", err)
	}
	for _, want := range []string{"ARG BASE_IMAGE", "FROM ${BASE_IMAGE}", "ARG OCC_VERSION", `org.opencode-cloud.version="${OCC_VERSION}"`} {
		if !strings.Contains(string(df), want) {
			t.Errorf("embedded Dockerfile lacks %q", want)
		}
	}
	if regexp.MustCompile(`(?mi)^#\s*syntax\s*=`).Match(df) {
		t.Errorf("embedded Dockerfile names a frontend image; occ builds offline with the built-in dockerfile.v0")
	}
}

// walkAll collects what an fsutil.FS sends: path, mode and content.
func walkAll(t *testing.T, f fsutil.FS, target string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := f.Walk(context.Background(), target, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := e.Info()
		if err != nil {
			return err
		}
		st, ok := fi.Sys().(*fstypes.Stat)
		if !ok {
			t.Fatalf("%s: Sys() is %T, want *types.Stat", p, fi.Sys())
		}
		if st.Path != p {
			t.Errorf("stat path %q != walk path %q", st.Path, p)
		}
		v := fs.FileMode(st.Mode).String()
		if fs.FileMode(st.Mode).IsRegular() {
			rc, err := f.Open(p)
			if err != nil {
				return err
			}
			b, _ := io.ReadAll(rc)
			rc.Close()
			v += " " + string(b)
			if st.Size != int64(len(b)) {
				t.Errorf("%s: size %d, content %d bytes", p, st.Size, len(b))
			}
		}
		out[p] = v
		return nil
	})
	if err != nil {
		t.Fatalf("walk %q: %v", target, err)
	}
	return out
}

func TestIOFSServesLikeADirectory(t *testing.T) {
	mem := fstest.MapFS{
		"Dockerfile":        {Data: []byte("FROM x\n")},
		"files/a.sh":        {Data: []byte("echo a\n")},
		"files/sub/b.txt":   {Data: []byte("b")},
		".dockerignore":     {Data: []byte("")},
		"files/sub/empty/x": {Data: nil},
	}
	want := map[string]string{
		".dockerignore":     "-rw-r--r-- ",
		"Dockerfile":        "-rw-r--r-- FROM x\n",
		"files":             "drwxr-xr-x",
		"files/a.sh":        "-rw-r--r-- echo a\n",
		"files/sub":         "drwxr-xr-x",
		"files/sub/b.txt":   "-rw-r--r-- b",
		"files/sub/empty":   "drwxr-xr-x",
		"files/sub/empty/x": "-rw-r--r-- ",
	}
	for _, target := range []string{"", "/", "."} {
		if got := walkAll(t, NewIOFS(mem), target); !reflect.DeepEqual(got, want) {
			t.Errorf("walk %q:\n got %v\nwant %v", target, got, want)
		}
	}
	// The same tree on disk, through fsutil's own FS, sends the same.
	dir := t.TempDir()
	for p, f := range mem {
		full := filepath.Join(dir, p)
		os.MkdirAll(filepath.Dir(full), 0o755)
		if err := os.WriteFile(full, f.Data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	disk, err := fsutil.NewFS(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := walkAll(t, disk, "/"); !reflect.DeepEqual(got, want) {
		t.Errorf("fsutil.NewFS walk differs from IOFS:\n got %v\nwant %v", got, want)
	}
	// A subtree, and fsutil's filter (as filesync applies .dockerignore) on top.
	if got := walkAll(t, NewIOFS(mem), "files/sub"); len(got) != 4 || got["files/sub/b.txt"] == "" {
		t.Errorf("walk files/sub = %v", got)
	}
	filtered, err := fsutil.NewFilterFS(NewIOFS(mem), &fsutil.FilterOpt{ExcludePatterns: []string{"files/sub"}})
	if err != nil {
		t.Fatal(err)
	}
	got := walkAll(t, filtered, "/")
	if _, ok := got["files/sub/b.txt"]; ok || got["files/a.sh"] == "" || got["Dockerfile"] == "" {
		t.Errorf("filtered walk = %v", got)
	}
}

func TestContextDigest(t *testing.T) {
	files := map[string]string{"Dockerfile": "FROM x\n", "files/a": "a", "files/b": "b"}
	write := func(t *testing.T, files map[string]string) string {
		dir := t.TempDir()
		for p, c := range files {
			full := filepath.Join(dir, p)
			os.MkdirAll(filepath.Dir(full), 0o755)
			if err := os.WriteFile(full, []byte(c), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		return dir
	}
	dig := func(t *testing.T, dir string) digest.Digest {
		c, err := DirContext(dir)
		if err != nil {
			t.Fatal(err)
		}
		d, err := c.Digest()
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	a := write(t, files)
	base := dig(t, a)
	if base != dig(t, a) {
		t.Fatal("digest is not deterministic")
	}
	// Same files elsewhere, other times: same digest.
	b := write(t, files)
	os.Chtimes(filepath.Join(b, "files/a"), time.Unix(1, 0), time.Unix(1, 0))
	if dig(t, b) != base {
		t.Error("digest depends on location or timestamps")
	}
	// Embedded (in-memory) with the same files: same digest.
	mem := fstest.MapFS{}
	for p, c := range files {
		mem[p] = &fstest.MapFile{Data: []byte(c), Mode: 0o444}
	}
	if d, _ := (&Context{Name: "mem", FS: NewIOFS(mem), files: mem, embedded: true}).Digest(); d != base {
		t.Errorf("embedded digest %s != on-disk %s", d, base)
	}
	changes := map[string]func(dir string){
		"content":   func(d string) { os.WriteFile(filepath.Join(d, "files/a"), []byte("A"), 0o644) },
		"new file":  func(d string) { os.WriteFile(filepath.Join(d, "files/c"), nil, 0o644) },
		"rename":    func(d string) { os.Rename(filepath.Join(d, "files/b"), filepath.Join(d, "files/bb")) },
		"exec bit":  func(d string) { os.Chmod(filepath.Join(d, "files/a"), 0o755) },
		"empty dir": func(d string) { os.Mkdir(filepath.Join(d, "files/dir"), 0o755) },
		"symlink":   func(d string) { os.Symlink("a", filepath.Join(d, "files/link")) },
		"moved data": func(d string) {
			os.WriteFile(filepath.Join(d, "files/a"), []byte("ab"), 0o644)
			os.WriteFile(filepath.Join(d, "files/b"), nil, 0o644)
		},
	}
	for name, change := range changes {
		t.Run(name, func(t *testing.T) {
			d := write(t, files)
			change(d)
			if dig(t, d) == base {
				t.Errorf("digest did not change")
			}
		})
	}
}

func TestDirContextErrors(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "f")
	os.WriteFile(file, nil, 0o644)
	for _, tt := range []struct{ dir, want string }{
		{filepath.Join(dir, "missing"), "cannot be read"},
		{file, "not a directory"},
		{dir, "no Dockerfile"},
	} {
		_, err := DirContext(tt.dir)
		if err == nil || !strings.Contains(err.Error(), tt.want) || !errdefs.IsInvalidArgument(err) {
			t.Errorf("DirContext(%s) = %v, want %q", tt.dir, err, tt.want)
		}
	}
}

func TestTrackerFailedStepAndTail(t *testing.T) {
	tr := newTracker()
	now := time.Now()
	d1, d2, d3 := digest.FromString("1"), digest.FromString("2"), digest.FromString("3")
	tr.update(&client.SolveStatus{Vertexes: []*client.Vertex{
		{Digest: d1, Name: "[1/3] FROM base", Started: &now, Completed: &now, Cached: true},
		{Digest: d2, Name: "[2/3] RUN make", Started: &now},
		{Digest: d3, Name: "[internal] sibling", Started: &now},
	}})
	var data strings.Builder
	for i := 0; i < 30; i++ {
		data.WriteString("line ")
		data.WriteString(string(rune('a' + i%26)))
		data.WriteString("\n")
	}
	// Logs arrive in arbitrary chunks.
	s := data.String()
	tr.update(&client.SolveStatus{Logs: []*client.VertexLog{{Vertex: d2, Data: []byte(s[:7])}, {Vertex: d2, Data: []byte(s[7:] + "no newline")}}})
	tr.update(&client.SolveStatus{Vertexes: []*client.Vertex{
		{Digest: d3, Name: "[internal] sibling", Error: "context canceled"},
		{Digest: d2, Name: "[2/3] RUN make", Completed: &now, Error: `process "/bin/sh -c make" did not complete successfully: exit code: 2`},
	}})
	step, logs, ok := tr.failed()
	if !ok || step.Name != "[2/3] RUN make" {
		t.Fatalf("failed = %+v %v", step, ok)
	}
	if len(logs) != logTail || logs[len(logs)-1] != "no newline" || logs[len(logs)-2] != "line d" {
		t.Errorf("tail = %q", logs)
	}
	steps := tr.Steps()
	if len(steps) != 3 || !steps[0].Cached || steps[0].Ran() || !steps[1].Ran() {
		t.Errorf("steps = %+v", steps)
	}

	err := solveFailure(errors.New("failed to solve: process \"/bin/sh -c make\" did not complete successfully: exit code: 2"), tr)
	var be *BuildError
	if !errors.As(err, &be) {
		t.Fatalf("%T", err)
	}
	msg := err.Error()
	for _, want := range []string{"build failed at step [2/3] RUN make: exit code: 2\n", "last output of that step:", "    no newline", "were not changed"} {
		if !strings.Contains(msg, want) {
			t.Errorf("message lacks %q:\n%s", want, msg)
		}
	}
	if strings.Contains(msg, "failed to solve:") {
		t.Errorf("message keeps the client's prefix:\n%s", msg)
	}
}

func TestCountSteps(t *testing.T) {
	now := time.Now()
	steps := []Step{
		{Name: "[internal] load build definition from Dockerfile", Started: &now},
		{Name: "[1/3] FROM r/busybox@sha256:abc", Started: &now, Cached: true},
		{Name: "[2/3] RUN make", Started: &now},
		{Name: "[stage-1 3/3] COPY --from=0 /a /a", Started: &now, Cached: true},
		{Name: "[builder 2/4] RUN go build", Started: &now},
		{Name: "[3/3] RUN never started"},
		{Name: "exporting to image", Started: &now},
	}
	ran, cached := CountSteps(steps)
	if ran != 2 || cached != 2 {
		t.Errorf("ran %d cached %d, want 2 2", ran, cached)
	}
}

func TestHints(t *testing.T) {
	tests := []struct{ text, want string }{
		{"write /var/lib/x: no space left on device", "disk is full"},
		{"mkdir /foo: permission denied", "permission"},
		{"dial tcp: lookup deb.debian.org: Temporary failure in name resolution", "network"},
		{"failed to do request: Head \"https://registry-1.docker.io/v2/\": dial tcp 1.2.3.4:443: i/o timeout", "network"},
		{"exit code: 1", ""},
	}
	for _, tt := range tests {
		got := hintFor(tt.text)
		if (tt.want == "") != (got == "") || !strings.Contains(got, tt.want) {
			t.Errorf("hintFor(%q) = %q, want %q", tt.text, got, tt.want)
		}
	}
}

func TestConnectListsEveryAddress(t *testing.T) {
	dir := t.TempDir()
	notSock := filepath.Join(dir, "file.sock")
	os.WriteFile(notSock, nil, 0o600)
	addrs := []string{"unix://" + filepath.Join(dir, "none.sock"), "unix://" + notSock, "bogus-address"}
	_, err := Connect(context.Background(), addrs)
	var ue *UnreachableError
	if !errors.As(err, &ue) || len(ue.Tried) != 3 || !errdefs.IsUnavailable(err) {
		t.Fatalf("err = %v", err)
	}
	msg := err.Error()
	for _, want := range append(addrs, "no socket there", "not a socket", "not an address BuildKit understands",
		"buildkitd --addr unix:///run/buildkit/buildkitd.sock", "rootlesskit buildkitd", "$XDG_RUNTIME_DIR/buildkit/buildkitd.sock", "buildkit_address") {
		if !strings.Contains(msg, want) {
			t.Errorf("message lacks %q:\n%s", want, msg)
		}
	}
	if _, err := Connect(context.Background(), nil); !errdefs.IsInvalidArgument(err) {
		t.Errorf("no addresses: %v", err)
	}
}

// fakeStore records calls; enough for the decisions Build makes before it
// talks to BuildKit.
type fakeStore struct {
	ImageStore
	ns, snap, uuid string
}

func (f fakeStore) Namespace() string                          { return f.ns }
func (f fakeStore) Snapshotter() string                        { return f.snap }
func (f fakeStore) ServerUUID(context.Context) (string, error) { return f.uuid, nil }

func TestCanExportDirect(t *testing.T) {
	store := fakeStore{ns: "opencode-cloud", snap: "overlayfs", uuid: "u1"}
	tests := []struct {
		name string
		w    WorkerInfo
		want bool
		why  string
	}{
		{"containerd same ns and daemon", WorkerInfo{Kind: WorkerContainerd, Namespace: "opencode-cloud", ContainerdUUID: "u1"}, true, "straight into"},
		{"oci worker", WorkerInfo{Kind: WorkerOCI}, false, "content store"},
		{"other namespace", WorkerInfo{Kind: WorkerContainerd, Namespace: "buildkit", ContainerdUUID: "u1"}, false, "--containerd-worker-namespace=opencode-cloud"},
		{"other containerd", WorkerInfo{Kind: WorkerContainerd, Namespace: "opencode-cloud", ContainerdUUID: "u2"}, false, "another containerd"},
		{"no uuid label", WorkerInfo{Kind: WorkerContainerd, Namespace: "opencode-cloud"}, false, "another containerd"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, why := canExportDirect(context.Background(), tt.w, store)
			if got != tt.want || !strings.Contains(why, tt.why) {
				t.Errorf("= %v %q, want %v %q", got, why, tt.want, tt.why)
			}
		})
	}
	if w := workerFromLabels("x", map[string]string{labelExecutor: "containerd", labelContainerdNamespace: "n", labelContainerdUUID: "u", labelSnapshotter: "overlayfs"}); w != (WorkerInfo{ID: "x", Kind: "containerd", Namespace: "n", ContainerdUUID: "u", Snapshotter: "overlayfs"}) {
		t.Errorf("workerFromLabels = %+v", w)
	}
	if w := workerFromLabels("x", nil); w.Kind != WorkerOCI {
		t.Errorf("no executor label: kind %q", w.Kind)
	}
}
