package main

import "github.com/opencode-cloud/occ/pkg/runtime"

// LogDriverCmd is what containerd's shim runs as the sandbox's logging
// binary (a binary:// log URI): it writes the container's output to PATH
// with timestamps and rotates the file. Not for people.
type LogDriverCmd struct {
	Path string `arg:"" help:"Log file to write."`
}

// Run never returns: the driver exits with the container's streams.
func (c *LogDriverCmd) Run() error {
	runtime.ServeLogDriver(c.Path)
	return nil
}
