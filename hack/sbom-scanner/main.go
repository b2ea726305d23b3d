// sbom-scanner is a BuildKit SBOM generator (docs/attestations/sbom-protocol.md
// in BuildKit) for the sandbox image, used where BuildKit cannot reach
// docker/buildkit-syft-scanner (the testbed has no route to Docker Hub;
// releases use syft's scanner). It lists the Debian packages
// (var/lib/dpkg/status) and the npm packages under the global node_modules
// of each root filesystem BuildKit passes, with package URLs, and writes one
// SPDX 2.3 document per filesystem, wrapped in an in-toto statement, to
// $BUILDKIT_SCAN_DESTINATION/<name>.spdx.json. The output depends on the
// files alone (packages sorted, no wall-clock time), so two builds of the
// same image give the same SBOM.
package main

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

type pkg struct {
	kind, name, version, arch, license string
}

func (p pkg) purl(distro string) string {
	switch p.kind {
	case "deb":
		q := url.Values{}
		if p.arch != "" {
			q.Set("arch", p.arch)
		}
		if distro != "" {
			q.Set("distro", distro)
		}
		s := "pkg:deb/debian/" + url.PathEscape(p.name) + "@" + url.PathEscape(p.version)
		if len(q) > 0 {
			s += "?" + q.Encode()
		}
		return s
	default:
		n := p.name
		if strings.HasPrefix(n, "@") {
			scope, rest, _ := strings.Cut(n, "/")
			n = "%40" + url.PathEscape(scope[1:]) + "/" + url.PathEscape(rest)
		} else {
			n = url.PathEscape(n)
		}
		return "pkg:npm/" + n + "@" + url.PathEscape(p.version)
	}
}

// dpkgPackages reads the installed packages from var/lib/dpkg/status.
func dpkgPackages(root string) ([]pkg, error) {
	f, err := os.Open(filepath.Join(root, "var/lib/dpkg/status"))
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []pkg
	var cur pkg
	installed := false
	flush := func() {
		if cur.name != "" && installed {
			cur.kind = "deb"
			out = append(out, cur)
		}
		cur, installed = pkg{}, false
	}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			flush()
			continue
		}
		k, v, ok := strings.Cut(line, ": ")
		if !ok {
			continue
		}
		switch k {
		case "Package":
			cur.name = v
		case "Version":
			cur.version = v
		case "Architecture":
			cur.arch = v
		case "Status":
			installed = strings.HasSuffix(v, " installed")
		}
	}
	flush()
	return out, sc.Err()
}

// npmPackages reads package.json of every package under the global
// node_modules directories (nested node_modules included).
func npmPackages(root string) ([]pkg, error) {
	var out []pkg
	for _, dir := range []string{"usr/local/lib/node_modules", "usr/lib/node_modules"} {
		base := filepath.Join(root, dir)
		if _, err := os.Stat(base); err != nil {
			continue
		}
		err := filepath.WalkDir(base, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || d.Name() != "package.json" {
				return nil
			}
			// Only a package's own manifest: <...>/node_modules/<name>/package.json
			// or <...>/node_modules/@scope/<name>/package.json.
			parent := filepath.Dir(p)
			if filepath.Base(filepath.Dir(parent)) != "node_modules" &&
				!(strings.HasPrefix(filepath.Base(filepath.Dir(parent)), "@") && filepath.Base(filepath.Dir(filepath.Dir(parent))) == "node_modules") {
				return nil
			}
			data, err := os.ReadFile(p)
			if err != nil {
				return nil
			}
			var m struct {
				Name    string `json:"name"`
				Version string `json:"version"`
				License any    `json:"license"`
			}
			if json.Unmarshal(data, &m) != nil || m.Name == "" || m.Version == "" {
				return nil
			}
			lic, _ := m.License.(string)
			out = append(out, pkg{kind: "npm", name: m.Name, version: m.Version, license: lic})
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

func osRelease(root string) (id, version string) {
	data, _ := os.ReadFile(filepath.Join(root, "etc/os-release"))
	for _, l := range strings.Split(string(data), "\n") {
		k, v, _ := strings.Cut(l, "=")
		v = strings.Trim(v, `"`)
		switch k {
		case "ID":
			id = v
		case "VERSION_ID":
			version = v
		}
	}
	return id, version
}

func scan(root, name string) (map[string]any, error) {
	debs, err := dpkgPackages(root)
	if err != nil {
		return nil, fmt.Errorf("dpkg status: %w", err)
	}
	npms, err := npmPackages(root)
	if err != nil {
		return nil, fmt.Errorf("npm packages: %w", err)
	}
	all := append(debs, npms...)
	sort.Slice(all, func(i, j int) bool {
		a, b := all[i], all[j]
		return a.kind+"\x00"+a.name+"\x00"+a.version+"\x00"+a.arch < b.kind+"\x00"+b.name+"\x00"+b.version+"\x00"+b.arch
	})
	id, ver := osRelease(root)
	distro := ""
	if id != "" {
		distro = id + "-" + ver
	}
	h := sha256.New()
	var pkgs, rels []map[string]any
	for i, p := range all {
		ref := fmt.Sprintf("SPDXRef-%s-%d", p.kind, i)
		lic := "NOASSERTION"
		if p.license != "" && !strings.ContainsAny(p.license, " ()") {
			lic = p.license
		}
		purl := p.purl(distro)
		fmt.Fprintln(h, purl)
		pkgs = append(pkgs, map[string]any{
			"SPDXID": ref, "name": p.name, "versionInfo": p.version,
			"downloadLocation": "NOASSERTION", "filesAnalyzed": false,
			"licenseConcluded": "NOASSERTION", "licenseDeclared": lic, "copyrightText": "NOASSERTION",
			"externalRefs": []map[string]string{{"referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl", "referenceLocator": purl}},
		})
		rels = append(rels, map[string]any{"spdxElementId": "SPDXRef-DOCUMENT", "relationshipType": "DESCRIBES", "relatedSpdxElement": ref})
	}
	created := "1970-01-01T00:00:00Z"
	if s := os.Getenv("SOURCE_DATE_EPOCH"); s != "" {
		if n, err := strconv.ParseInt(s, 10, 64); err == nil {
			created = time.Unix(n, 0).UTC().Format(time.RFC3339)
		}
	}
	doc := map[string]any{
		"spdxVersion": "SPDX-2.3", "dataLicense": "CC0-1.0", "SPDXID": "SPDXRef-DOCUMENT", "name": name,
		"documentNamespace": "https://github.com/opencode-cloud/occ/sbom/" + name + "-" + hex.EncodeToString(h.Sum(nil))[:16],
		"creationInfo":      map[string]any{"created": created, "creators": []string{"Tool: occ-sbom-scanner"}},
		"packages":          pkgs, "relationships": rels,
	}
	return map[string]any{
		"_type":         "https://in-toto.io/Statement/v0.1",
		"predicateType": "https://spdx.dev/Document",
		"subject":       []any{},
		"predicate":     doc,
	}, nil
}

func write(dest, name string, v any) error {
	data, err := json.MarshalIndent(v, "", " ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dest, name+".spdx.json"), data, 0o644)
}

func main() {
	dest, src := os.Getenv("BUILDKIT_SCAN_DESTINATION"), os.Getenv("BUILDKIT_SCAN_SOURCE")
	if dest == "" || src == "" {
		fmt.Fprintln(os.Stderr, "sbom-scanner: BUILDKIT_SCAN_DESTINATION and BUILDKIT_SCAN_SOURCE must be set (BuildKit's SBOM generator protocol)")
		os.Exit(2)
	}
	targets := map[string]string{filepath.Base(src): src}
	if extras := os.Getenv("BUILDKIT_SCAN_SOURCE_EXTRAS"); extras != "" {
		if ents, err := os.ReadDir(extras); err == nil {
			for _, e := range ents {
				if e.IsDir() {
					targets[e.Name()] = filepath.Join(extras, e.Name())
				}
			}
		}
	}
	for name, root := range targets {
		st, err := scan(root, name)
		if err == nil {
			err = write(dest, name, st)
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "sbom-scanner: %s: %v\n", root, err)
			os.Exit(1)
		}
	}
}
