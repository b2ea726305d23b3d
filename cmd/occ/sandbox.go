package main

import (
	"github.com/opencode-cloud/occ/pkg/meta"
	"github.com/opencode-cloud/occ/pkg/ops"
)

// ops binds this invocation into the operations' environment: the paths,
// the config with the global flags' overrides, occ's lock (let go while a
// question waits), the terminal's prompts, messages and progress.
func (a *App) ops() *ops.Env {
	return &ops.Env{
		Paths: a.Paths,
		LoadConfig: func() (*meta.Config, error) {
			cfg, _, err := a.LoadConfig()
			return cfg, err
		},
		Lock:     a.Lock,
		Quiet:    a.UI.Quiet,
		Prompt:   a.prompter(),
		Report:   a.UI,
		Progress: a.UI,
	}
}
