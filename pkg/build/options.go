package build

import (
	"fmt"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/containerd/errdefs"
	"github.com/moby/buildkit/client"
	"github.com/tonistiigi/go-csvvalue"
)

// Build arguments occ sets itself.
const (
	ArgVersion         = "OCC_VERSION"
	ArgBaseImage       = "BASE_IMAGE"
	ArgSourceDateEpoch = "SOURCE_DATE_EPOCH"
)

// DefaultBaseImage is BASE_IMAGE's default in the embedded sandbox
// Dockerfile (a test keeps the two the same).
const DefaultBaseImage = "debian:bookworm-slim"

var buildArgKeyRe = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// ParseBuildArgs parses --build-arg K=V values. A bare K takes its value
// from the environment, as docker build does (lookup may be os.LookupEnv);
// a K not set there is left out. OCC_VERSION is occ's to set.
func ParseBuildArgs(args []string, lookup func(string) (string, bool)) (map[string]string, error) {
	out := map[string]string{}
	for _, a := range args {
		k, v, hasValue := strings.Cut(a, "=")
		k = strings.TrimSpace(k)
		if !buildArgKeyRe.MatchString(k) {
			return nil, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("--build-arg %q must look like KEY=value (KEY: letters, digits and _, not starting with a digit)", a))
		}
		if k == ArgVersion {
			return nil, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("--build-arg %s cannot be given: occ sets it to its own version so that the image matches the CLI", ArgVersion))
		}
		if !hasValue {
			if lookup == nil {
				continue
			}
			ev, ok := lookup(k)
			if !ok {
				continue
			}
			v = ev
		}
		out[k] = v
	}
	if v, ok := out[ArgSourceDateEpoch]; ok {
		if _, err := parseEpoch(v); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func parseEpoch(v string) (int64, error) {
	n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	if err != nil || n < 0 {
		return 0, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("%s must be a Unix time in seconds (e.g. $(git log -1 --format=%%ct)), got %q", ArgSourceDateEpoch, v))
	}
	return n, nil
}

// Cache types occ supports for --cache-from / --cache-to.
const (
	CacheLocal    = "local"
	CacheRegistry = "registry"
)

// ParseCacheImports parses --cache-from values, buildctl style:
// type=local,src=DIR or type=registry,ref=REPO:TAG.
func ParseCacheImports(specs []string) ([]client.CacheOptionsEntry, error) {
	return parseCacheSpecs(specs, "--cache-from", false)
}

// ParseCacheExports parses --cache-to values, buildctl style:
// type=local,dest=DIR[,mode=max] or type=registry,ref=REPO:TAG[,mode=max].
// mode defaults to max (every stage is cached, which is what a CI runner
// keeping a cache between jobs wants).
func ParseCacheExports(specs []string) ([]client.CacheOptionsEntry, error) {
	return parseCacheSpecs(specs, "--cache-to", true)
}

func parseCacheSpecs(specs []string, flag string, export bool) ([]client.CacheOptionsEntry, error) {
	var out []client.CacheOptionsEntry
	for _, s := range specs {
		e, err := parseCacheSpec(s, flag, export)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, nil
}

func parseCacheSpec(s, flag string, export bool) (client.CacheOptionsEntry, error) {
	bad := func(format string, a ...any) (client.CacheOptionsEntry, error) {
		return client.CacheOptionsEntry{}, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("%s %q: ", flag, s) + fmt.Sprintf(format, a...))
	}
	e := client.CacheOptionsEntry{Attrs: map[string]string{}}
	fields, err := csvvalue.Fields(s, nil)
	if err != nil {
		return bad("%v", err)
	}
	for _, f := range fields {
		k, v, ok := strings.Cut(f, "=")
		if !ok {
			return bad("%q is not key=value (e.g. type=local,%s=DIR or type=registry,ref=REPO:TAG)", f, localKey(export))
		}
		k = strings.ToLower(strings.TrimSpace(k))
		if k == "type" {
			e.Type = v
			continue
		}
		e.Attrs[k] = v
	}
	switch e.Type {
	case CacheLocal:
		key := localKey(export)
		dir := e.Attrs[key]
		if dir == "" {
			return bad("type=local needs %s=DIR", key)
		}
		abs, err := filepath.Abs(dir)
		if err != nil {
			return bad("%v", err)
		}
		e.Attrs[key] = abs
	case CacheRegistry:
		if e.Attrs["ref"] == "" {
			return bad("type=registry needs ref=REPO:TAG")
		}
	case "":
		return bad("missing type= (type=local or type=registry)")
	default:
		return bad("cache type %q is not supported (use type=local or type=registry)", e.Type)
	}
	if export {
		switch e.Attrs["mode"] {
		case "":
			e.Attrs["mode"] = "max"
		case "min", "max":
		default:
			return bad("mode must be min or max, got %q", e.Attrs["mode"])
		}
	}
	return e, nil
}

func localKey(export bool) string {
	if export {
		return "dest"
	}
	return "src"
}
