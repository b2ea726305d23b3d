// Package kube puts the sandbox on a Kubernetes cluster: it renders the
// objects an instance is made of (Render: Namespace, Secrets, ConfigMap,
// PersistentVolumeClaims, StatefulSet, Service, optional Ingress) from
// k8s.io/api types, with the host runtime's isolation, and drives them with
// client-go (Client: server-side apply, status, logs, users, update and
// delete). docs/kubernetes.md says how each host concept maps onto them.
package kube
