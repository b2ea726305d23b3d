// Command chaosproxy runs the fault-injecting registry proxy of
// internal/chaosproxy in front of a plain-HTTP registry, for trying occ
// against a misbehaving registry by hand:
//
//	go run ./hack/chaosproxy -upstream 127.0.0.1:5001 -listen 127.0.0.1:5099 -schedule faults.json
//
// faults.json is one chaosproxy.Schedule, e.g.
//
//	{"name": "503 twice", "rules": [{"kind": "blob", "count": 2,
//	  "action": {"type": "status", "status": 503, "retry_after": "1"}}]}
//
// Every request is logged to stderr with the rule that acted on it.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"

	"github.com/opencode-cloud/occ/internal/chaosproxy"
)

func main() {
	upstream := flag.String("upstream", "", "registry to proxy (host:port, plain HTTP)")
	listen := flag.String("listen", "127.0.0.1:0", "address to listen on")
	schedFile := flag.String("schedule", "", "JSON file with one schedule (default: pass everything through)")
	flag.Parse()
	if *upstream == "" {
		fmt.Fprintln(os.Stderr, "chaosproxy: -upstream HOST:PORT is required")
		os.Exit(2)
	}
	p := chaosproxy.New(*upstream)
	if *schedFile != "" {
		b, err := os.ReadFile(*schedFile)
		if err != nil {
			log.Fatalf("chaosproxy: %v", err)
		}
		var s chaosproxy.Schedule
		if err := json.Unmarshal(b, &s); err != nil {
			log.Fatalf("chaosproxy: %s: %v", *schedFile, err)
		}
		p.Set(s)
	}
	l, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatalf("chaosproxy: %v", err)
	}
	log.Printf("chaosproxy: %s -> %s", l.Addr(), *upstream)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := len(p.Log())
		defer func() {
			if l := p.Log(); len(l) > n {
				e := l[len(l)-1]
				log.Printf("%s %s range=%q rule=%d action=%s status=%d", e.Method, e.Path, e.Range, e.Rule, e.Action, e.Status)
			}
		}()
		p.ServeHTTP(w, r)
	})
	srv := &http.Server{Handler: h}
	go func() { <-ctx.Done(); _ = srv.Close() }()
	if err := srv.Serve(l); err != nil && ctx.Err() == nil {
		log.Fatalf("chaosproxy: %v", err)
	}
}
