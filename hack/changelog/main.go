// Command changelog reads CHANGELOG.md for the release workflow:
//
//	go run ./hack/changelog check vX.Y.Z   the tag is a semver and CHANGELOG.md's newest release
//	go run ./hack/changelog notes X.Y.Z    that release's section (the GitHub release's notes)
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/opencode-cloud/occ/internal/changelog"
)

func main() {
	file := flag.String("file", "CHANGELOG.md", "the changelog")
	flag.Usage = func() {
		fmt.Fprintf(os.Stderr, "usage: changelog [-file CHANGELOG.md] check vX.Y.Z | notes X.Y.Z\n")
	}
	flag.Parse()
	if flag.NArg() != 2 {
		flag.Usage()
		os.Exit(2)
	}
	if err := run(*file, flag.Arg(0), flag.Arg(1)); err != nil {
		fmt.Fprintln(os.Stderr, "changelog:", err)
		os.Exit(1)
	}
}

func run(file, cmd, arg string) error {
	data, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	c, err := changelog.Parse(string(data))
	if err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	switch cmd {
	case "check":
		return c.CheckTag(arg)
	case "notes":
		r, err := c.Find(arg)
		if err != nil {
			return err
		}
		fmt.Println(r.Notes)
		return nil
	}
	return fmt.Errorf("unknown command %q (check or notes)", cmd)
}
