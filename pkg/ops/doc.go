// Package ops is occ's operations as a library: start, stop, restart,
// status, logs, update and rollback, getting the sandbox image (pull or
// build), and the login users. cmd/occ parses flags into each operation's
// options struct, binds the terminal (internal/ui) to the small interfaces
// in Env, and renders the result struct it gets back, as text or --json.
//
// Every operation that touches the sandbox begins with the same preamble,
// Env.Open: occ's lock (for those that change something), the config with
// the invocation's overrides, its validation, a containerd connection and
// the sandbox's handle and state. Nothing here writes to a terminal
// directly: messages go to the Reporter, questions to the Prompter, long
// waits to the Progress.
package ops
