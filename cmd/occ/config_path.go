package main

import "fmt"

// ConfigPathCmd prints the config file's path.
type ConfigPathCmd struct{}

func (c *ConfigPathCmd) Run(app *App) error {
	fmt.Fprintln(app.UI.Out, app.Paths.ConfigFile)
	app.UI.Verbosef("Data: %s", app.Paths.DataDir)
	return nil
}
