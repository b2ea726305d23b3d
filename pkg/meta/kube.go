package meta

import (
	"fmt"
	"regexp"
	"strings"
)

// Targets: where the sandbox runs.
const (
	TargetHost = "host"
	TargetKube = "kube"
)

// Defaults of the kube_* keys.
const (
	DefaultKubeNamespace  = "opencode-cloud"
	DefaultKubeVolumeSize = "10Gi"
)

var (
	// dnsLabelRe is a Kubernetes namespace name (RFC 1123 label).
	dnsLabelRe = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)
	// dnsSubdomainRe is a Kubernetes object name or a host name (RFC 1123 subdomain).
	dnsSubdomainRe = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`)
	// quantityRe is a binary or decimal size as Kubernetes writes them (10Gi, 500M).
	quantityRe = regexp.MustCompile(`^[0-9]+(\.[0-9]+)?(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)?$`)
)

// IsKube says whether the sandbox runs on Kubernetes (target kube).
func (c *Config) IsKube() bool { return strings.TrimSpace(c.Target) == TargetKube }

func (c *Config) validateKubeField(key string) *FieldError {
	bad := func(problem, fix string) *FieldError { return &FieldError{Field: key, Problem: problem, Fix: fix} }
	switch key {
	case "target":
		if c.Target != "" && c.Target != TargetHost && c.Target != TargetKube {
			return bad(fmt.Sprintf("must be host or kube, got %q", c.Target), "occ config set target host")
		}
	case "kube_namespace":
		if len(c.KubeNamespace) > 63 || !dnsLabelRe.MatchString(c.KubeNamespace) {
			return bad(fmt.Sprintf("%q is not a namespace name: up to 63 lowercase letters, digits and '-', starting and ending with a letter or digit", c.KubeNamespace),
				"occ config set kube_namespace "+DefaultKubeNamespace)
		}
	case "kube_storage_class", "kube_ingress_tls_secret", "kube_ingress_class", "kube_ingress_host":
		v := *fieldByJSONKey(c, key).(*string)
		if v != "" && (len(v) > 253 || !dnsSubdomainRe.MatchString(v)) {
			return bad(fmt.Sprintf("%q is not a Kubernetes name: lowercase letters, digits, '-' and '.'", v), fmt.Sprintf("occ config set %s \"\"", key))
		}
	case "kube_volume_size":
		if !quantityRe.MatchString(c.KubeVolumeSize) {
			return bad(fmt.Sprintf("%q is not a size: use a Kubernetes quantity such as 10Gi or 500Mi", c.KubeVolumeSize),
				"occ config set kube_volume_size "+DefaultKubeVolumeSize)
		}
	}
	return nil
}

// kubeCheck is the Check in Keys of a kube key (validateKubeField's rule).
func kubeCheck(key string) func(*Config) (problem, fix string) {
	return func(c *Config) (string, string) {
		if fe := c.validateKubeField(key); fe != nil {
			return fe.Problem, fe.Fix
		}
		return "", ""
	}
}
