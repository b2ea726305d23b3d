package main

// ImageCmd groups the sandbox image subcommands.
type ImageCmd struct {
	Pull      ImagePullCmd      `cmd:"" help:"Pull the prebuilt sandbox image into containerd, digest-verified."`
	Build     ImageBuildCmd     `cmd:"" help:"Build the sandbox image from source with BuildKit and record it in containerd."`
	Ls        ImageLsCmd        `cmd:"" aliases:"list" help:"List the local sandbox images and where they came from."`
	Inspect   ImageInspectCmd   `cmd:"" help:"Show one local sandbox image's provenance."`
	TrustRoot ImageTrustRootCmd `cmd:"" name:"trust-root" help:"Show the Sigstore trusted root signatures are verified against; --refresh fetches a newer one."`
}
