package meta

// Label keys occ puts on the sandbox container record (not the image). They
// let a later occ process (status, stop, remove) see how the container was
// made: what it publishes, where it logs, which network namespace and CNI
// configuration to tear down.
const (
	LabelContainerPublished   = LabelPrefix + "container.published"    // host:port the web port is published on
	LabelContainerNetworkMode = LabelPrefix + "container.network-mode" // cni | host
	LabelContainerLogPath     = LabelPrefix + "container.log-path"
	LabelContainerLogFormat   = LabelPrefix + "container.log-format"   // how the running task's log is written (runtime.LogFormat*)
	LabelContainerMounts      = LabelPrefix + "container.mounts"       // the configured bind mounts, comma-joined
	LabelContainerImage       = LabelPrefix + "container.image"        // image name at create time
	LabelContainerImageDigest = LabelPrefix + "container.image-digest" // image manifest digest at create time
	LabelContainerCreatedBy   = LabelPrefix + "container.created-by"   // occ version that created it
	LabelContainerNetNS       = LabelPrefix + "container.netns"        // network namespace path while started (cni)
	LabelContainerCNIConfig   = LabelPrefix + "container.cni-conflist" // the conflist used for ADD, reused for DEL
	LabelContainerCNIArgs     = LabelPrefix + "container.cni-portmap"  // JSON port mappings used for ADD
	LabelContainerCNIID       = LabelPrefix + "container.cni-id"       // the CNI container ID used for ADD
	LabelContainerIPs         = LabelPrefix + "container.ips"          // the container's bridge addresses from ADD, comma-joined
	LabelContainerStartedAt   = LabelPrefix + "container.started-at"
	LabelContainerExitCode    = LabelPrefix + "container.exit-code"
	LabelContainerExitedAt    = LabelPrefix + "container.exited-at"
)
