package main

// InstanceCmd shows the sandbox instances (--sandbox-instance) on this
// containerd namespace.
type InstanceCmd struct {
	List InstanceListCmd `cmd:"" aliases:"ls" help:"List the sandbox instances: container, state, address."`
}
