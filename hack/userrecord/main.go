// Command userrecord writes a sandbox user record the way occ does while the
// sandbox is stopped (pkg/runtime's record library): the password is read
// from stdin (one line, its line ending stripped) and hashed here.
//
//	go run ./hack/userrecord [-locked] DIR USERNAME < password
//
// hack/sandbox-smoke uses it to prove that a hash made in Go logs in through
// the image's nginx + PAM gateway.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/opencode-cloud/occ/pkg/runtime"
)

func main() {
	locked := flag.Bool("locked", false, "write the record disabled")
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: userrecord [-locked] DIR USERNAME < password")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() != 2 {
		flag.Usage()
		os.Exit(2)
	}
	line, err := bufio.NewReader(os.Stdin).ReadString('\n')
	if err != nil && line == "" {
		fmt.Fprintln(os.Stderr, "userrecord: no password on stdin")
		os.Exit(1)
	}
	password := strings.TrimRight(line, "\r\n")
	r, err := runtime.NewUserRecord(flag.Arg(1), password)
	if err == nil {
		r.Locked = *locked
		err = runtime.WriteUserRecord(flag.Arg(0), r)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "userrecord:", err)
		os.Exit(1)
	}
}
