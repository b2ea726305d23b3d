// Package ui is occ's terminal: the result and message streams with their
// -q/-v and colour decisions (UI, ColorFor), the spinner, the prompts
// (Prompter: yes/no, a numbered choice, a secret, a line) and the pull's
// progress bars (PullProgress).
//
// cmd/occ builds one UI and one Prompter per invocation and hands them,
// as pkg/ops's small interfaces, to the operations; nothing here decides
// what occ does, only how it is shown and asked.
package ui
