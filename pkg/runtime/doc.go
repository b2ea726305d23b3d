// Package runtime owns occ's use of containerd: the client connection and
// its namespace, image unpack and import helpers, the sandbox container's
// spec, volumes, CNI networking, logs, tasks, exec, readiness and health.
//
// It uses only containerd's classic client APIs (no Transfer service), so it
// works against containerd 1.6, 1.7 and 2.x.
package runtime
