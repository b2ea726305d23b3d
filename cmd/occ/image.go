package main

// ImageCmd groups the sandbox image commands.
type ImageCmd struct {
	Build ImageBuildCmd `cmd:"" help:"Build the sandbox image from source with BuildKit and record it in containerd."`
}
