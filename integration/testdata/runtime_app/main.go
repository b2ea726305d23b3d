// Command runtime_app is the stand-in sandbox server for the runtime
// integration tests: a static HTTP server with opencode's /global/health
// endpoint, listening on $OPENCODE_HOST:$OPENCODE_PORT (default 0.0.0.0:3000).
//
// Behaviour switches (env): EXIT_AT_ONCE=1 prints a line and exits 3;
// IGNORE_SIGTERM=1 ignores SIGTERM (otherwise SIGTERM exits 0).
package main

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	if os.Getenv("EXIT_AT_ONCE") == "1" {
		fmt.Println("boom: the test app exits at once")
		fmt.Fprintln(os.Stderr, "boom: stderr says goodbye")
		os.Exit(3)
	}
	if os.Getenv("IGNORE_SIGTERM") == "1" {
		signal.Ignore(syscall.SIGTERM)
	} else {
		ch := make(chan os.Signal, 1)
		signal.Notify(ch, syscall.SIGTERM)
		go func() {
			<-ch
			fmt.Println("got SIGTERM, exiting")
			os.Exit(0)
		}()
	}
	host, port := os.Getenv("OPENCODE_HOST"), os.Getenv("OPENCODE_PORT")
	if host == "" {
		host = "0.0.0.0"
	}
	if port == "" {
		port = "3000"
	}
	http.HandleFunc("/global/health", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintln(w, `{"healthy":true,"version":"test"}`)
	})
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		fmt.Printf("request %s\n", r.URL.Path)
		fmt.Fprintf(w, "hello from %s\n", r.URL.Path)
	})
	addr := net.JoinHostPort(host, port)
	fmt.Printf("listening on %s\n", addr)
	fmt.Fprintf(os.Stderr, "stderr: ready to serve\n")
	if err := http.ListenAndServe(addr, nil); err != nil {
		fmt.Fprintf(os.Stderr, "serve: %v\n", err)
		os.Exit(1)
	}
}
