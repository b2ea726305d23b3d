package kube

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"

	"github.com/containerd/errdefs"
	"github.com/distribution/reference"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"

	"github.com/opencode-cloud/occ/pkg/meta"
	"github.com/opencode-cloud/occ/pkg/runtime"
)

// Names of the rendered objects. One instance per namespace: every object is
// called Name (the Secrets and the claims get a suffix), as the host's
// container is always opencode-cloud-sandbox.
const (
	Name          = "opencode-cloud"
	UsersSecret   = Name + "-users"
	EnvSecret     = Name + "-env"
	ContainerName = "sandbox"
	PortName      = "http"
	// FieldManager is occ's name in server-side apply's managed fields.
	FieldManager = "occ"
	// UsersMountDir is where the users Secret is mounted: the image's users
	// tool reads the records there (OPENCODE_USERS_DIR). Secret volumes are
	// read-only and refreshed by the kubelet in place, so they cannot be the
	// host's /var/lib/opencode-users, which the entrypoint chmods.
	UsersMountDir = "/etc/opencode-cloud/users"
	// HealthPath is the gateway's one unauthenticated path.
	HealthPath = "/global/health"
	// OtherVolumeSize is the claim size of every volume but the workspace.
	OtherVolumeSize = "1Gi"
)

// Labels and annotations occ puts on what it renders.
const (
	LabelName      = "app.kubernetes.io/name"
	LabelInstance  = "app.kubernetes.io/instance"
	LabelManagedBy = "app.kubernetes.io/managed-by"
	LabelComponent = "app.kubernetes.io/component"
	LabelVersion   = "app.kubernetes.io/version"

	// AnnotationPrevious is the StatefulSet's image before the last update
	// (occ update --rollback goes back to it).
	AnnotationPrevious = "opencode-cloud.dev/previous-image"
	// AnnotationVerified records the signature check of the image.
	AnnotationVerified = "opencode-cloud.dev/image-verified"
	// AnnotationUsers is the pod template's hash of the user records: it is
	// NOT in the template (a change would restart the pod); occ sets it on
	// the running pod to make the kubelet refresh the Secret's files at once.
	AnnotationUsers = "opencode-cloud.dev/users"
	// PSA labels the namespace with the Pod Security Standard the sandbox
	// meets: baseline (it runs its entrypoint as root with six capabilities,
	// which restricted refuses).
	labelPSAEnforce = "pod-security.kubernetes.io/enforce"
	labelPSAWarn    = "pod-security.kubernetes.io/warn"
)

// Options describe one instance on a cluster.
type Options struct {
	Config *meta.Config
	// Image is the sandbox image by digest: repository@sha256:… (a tag
	// alongside is kept for people, the digest is what runs).
	Image string
	// Users are the login users' records (hashes only, as on the host).
	Users []runtime.UserRecord
	// Previous is the image before the last update, recorded for rollback.
	Previous string
	// Verified describes the image's signature check (an annotation).
	Verified string
	// Namespace overrides the config's kube_namespace.
	Namespace string
	// HostUsers false (the default) renders hostUsers: false, a user
	// namespace per pod (Kubernetes >= 1.33 with a runtime that supports
	// it), as userns on the host; true leaves the pod in the node's user
	// namespace, for clusters without that support.
	HostUsers bool
}

// Manifests are the rendered objects, in the order they are applied.
type Manifests struct {
	Namespace   *corev1.Namespace
	UsersSecret *corev1.Secret
	EnvSecret   *corev1.Secret
	ConfigMap   *corev1.ConfigMap
	Claims      []*corev1.PersistentVolumeClaim
	StatefulSet *appsv1.StatefulSet
	Service     *corev1.Service
	Ingress     *networkingv1.Ingress // nil without kube_ingress_host
}

// Objects lists the manifests in apply order: the namespace, what the pod
// mounts, the pod's controller, then how it is reached.
func (m *Manifests) Objects() []k8sruntime.Object {
	out := []k8sruntime.Object{m.Namespace, m.UsersSecret, m.EnvSecret, m.ConfigMap}
	for _, c := range m.Claims {
		out = append(out, c)
	}
	out = append(out, m.StatefulSet, m.Service)
	if m.Ingress != nil {
		out = append(out, m.Ingress)
	}
	return out
}

// YAML is every manifest as one YAML stream ("---" between documents), as
// kubectl apply -f reads it.
func (m *Manifests) YAML() ([]byte, error) {
	var b bytes.Buffer
	for i, o := range m.Objects() {
		u, err := toUnstructured(o)
		if err != nil {
			return nil, err
		}
		y, err := yaml.Marshal(u.Object)
		if err != nil {
			return nil, fmt.Errorf("render %T: %w", o, err)
		}
		if i > 0 {
			b.WriteString("---\n")
		}
		b.Write(y)
	}
	return b.Bytes(), nil
}

// PinnedImage checks that ref names an image by digest and returns it
// normalised (docker.io/library/… for short Docker Hub names).
func PinnedImage(ref string) (string, error) {
	named, err := reference.ParseNormalizedNamed(strings.TrimSpace(ref))
	if err != nil {
		return "", errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("image %q: %v", ref, err))
	}
	if _, ok := named.(reference.Digested); !ok {
		return "", errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf(
			"image %q has no digest: the cluster must run the image occ verified, so name it as REPOSITORY@sha256:… (occ kube apply resolves and verifies a tag for you)", ref))
	}
	return named.String(), nil
}

// Render builds the manifests for o. It fails on a config or image the
// cluster would refuse, before anything is applied.
func Render(o Options) (*Manifests, error) {
	cfg := o.Config
	if cfg == nil {
		cfg = meta.DefaultConfig()
	}
	image, err := PinnedImage(o.Image)
	if err != nil {
		return nil, err
	}
	ns := o.Namespace
	if ns == "" {
		ns = cfg.KubeNamespace
	}
	if ns == "" {
		ns = meta.DefaultKubeNamespace
	}
	res, err := Resources(cfg)
	if err != nil {
		return nil, err
	}
	wsSize, err := resource.ParseQuantity(cfg.KubeVolumeSize)
	if err != nil {
		return nil, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("kube_volume_size %q: %v (use a size such as 10Gi)", cfg.KubeVolumeSize, err))
	}
	users, err := UsersData(o.Users)
	if err != nil {
		return nil, err
	}
	env, err := envData(cfg)
	if err != nil {
		return nil, err
	}

	labels := Labels()
	m := &Manifests{}
	m.Namespace = &corev1.Namespace{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Namespace"},
		ObjectMeta: metav1.ObjectMeta{Name: ns, Labels: merge(labels, map[string]string{
			labelPSAEnforce: "baseline", labelPSAWarn: "baseline",
		})},
	}
	om := func(name, component string) metav1.ObjectMeta {
		return metav1.ObjectMeta{Name: name, Namespace: ns, Labels: merge(labels, map[string]string{LabelComponent: component})}
	}
	m.UsersSecret = &corev1.Secret{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
		ObjectMeta: om(UsersSecret, "users"),
		Type:       corev1.SecretTypeOpaque,
		Data:       users,
	}
	m.EnvSecret = &corev1.Secret{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
		ObjectMeta: om(EnvSecret, "env"),
		Type:       corev1.SecretTypeOpaque,
		Data:       env,
	}
	m.ConfigMap = &corev1.ConfigMap{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
		ObjectMeta: om(Name, "settings"),
		Data:       settings(cfg),
	}
	for _, v := range runtime.Volumes {
		if v.Name == runtime.UsersVolume {
			continue // the users Secret
		}
		size := resource.MustParse(OtherVolumeSize)
		if v.Target == runtime.WorkingDir {
			size = wsSize
		}
		c := &corev1.PersistentVolumeClaim{
			TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "PersistentVolumeClaim"},
			ObjectMeta: om(v.Name, "volume"),
			Spec: corev1.PersistentVolumeClaimSpec{
				AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
				Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: size}},
			},
		}
		if cfg.KubeStorageClass != "" {
			sc := cfg.KubeStorageClass
			c.Spec.StorageClassName = &sc
		}
		m.Claims = append(m.Claims, c)
	}
	m.StatefulSet = statefulSet(o, image, res, om(Name, "sandbox"))
	m.Service = &corev1.Service{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
		ObjectMeta: om(Name, "sandbox"),
		Spec: corev1.ServiceSpec{
			Type:     corev1.ServiceTypeClusterIP,
			Selector: Selector(),
			Ports: []corev1.ServicePort{{
				Name: PortName, Port: runtime.ContainerPort, TargetPort: intstr.FromString(PortName), Protocol: corev1.ProtocolTCP,
			}},
		},
	}
	if cfg.KubeIngressHost != "" {
		m.Ingress = ingress(cfg, om(Name, "sandbox"))
	}
	return m, nil
}

// Labels are on every object occ renders.
func Labels() map[string]string {
	return map[string]string{LabelName: Name, LabelInstance: Name, LabelManagedBy: "occ"}
}

// Selector picks the sandbox's pod.
func Selector() map[string]string {
	return map[string]string{LabelName: Name, LabelInstance: Name, LabelComponent: "sandbox"}
}

func merge(a, b map[string]string) map[string]string {
	out := make(map[string]string, len(a)+len(b))
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		out[k] = v
	}
	return out
}

// UsersData is the users Secret's data: one <name>.json record per user,
// the format the image's users tool reads from the host's volume.
func UsersData(users []runtime.UserRecord) (map[string][]byte, error) {
	out := make(map[string][]byte, len(users))
	for _, u := range users {
		if err := u.Validate(); err != nil {
			return nil, fmt.Errorf("user %s: %w", u.Username, err)
		}
		key := u.Username + ".json"
		if _, dup := out[key]; dup {
			return nil, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("user %s is listed twice", u.Username))
		}
		data, err := json.Marshal(u)
		if err != nil {
			return nil, fmt.Errorf("encode user %s: %w", u.Username, err)
		}
		out[key] = append(data, '\n')
	}
	return out, nil
}

// UsersFromData reads the users Secret's data back into records, sorted by name.
func UsersFromData(data map[string][]byte) ([]runtime.UserRecord, error) {
	var out []runtime.UserRecord
	for k, v := range data {
		name, ok := strings.CutSuffix(k, ".json")
		if !ok {
			continue
		}
		var r runtime.UserRecord
		if err := json.Unmarshal(v, &r); err != nil {
			return nil, fmt.Errorf("users secret, key %s: %w", k, err)
		}
		if r.Username != name {
			return nil, fmt.Errorf("users secret, key %s names user %q: fix or remove it", k, r.Username)
		}
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Username < out[j].Username })
	return out, nil
}

// envData is container_env (without the keys that could change what root
// runs: meta.SafeEnv), kept in a Secret: it often holds API keys.
func envData(cfg *meta.Config) (map[string][]byte, error) {
	out := map[string][]byte{}
	for _, kv := range meta.SafeEnv(cfg.ContainerEnv) {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("container_env entry %q is not KEY=value: fix it with occ config env", kv))
		}
		out[k] = []byte(v)
	}
	return out, nil
}

// settings is the ConfigMap: where the gateway listens and its login limits,
// what occ's runtime sets on the host (pkg/runtime's gateway env).
func settings(cfg *meta.Config) map[string]string {
	s := map[string]string{
		"OPENCODE_PORT":               strconv.Itoa(runtime.ContainerPort),
		"OPENCODE_HOST":               "0.0.0.0",
		"OPENCODE_USERS_DIR":          UsersMountDir,
		runtime.EnvTrustedProxies:     "",
		runtime.EnvHostMounts:         "",
		"XDG_DATA_HOME":               "/home/opencoder/.local/share",
		"XDG_STATE_HOME":              "/home/opencoder/.local/state",
		"XDG_CONFIG_HOME":             "/home/opencoder/.config",
		"XDG_CACHE_HOME":              "/home/opencoder/.cache",
		"OPENCODE_DISABLE_AUTOUPDATE": "1",
	}
	if cfg.RateLimitAttempts > 0 {
		s[runtime.EnvLoginAttempts] = strconv.Itoa(cfg.RateLimitAttempts)
	}
	if cfg.RateLimitWindowSeconds > 0 {
		s[runtime.EnvLoginWindow] = strconv.Itoa(cfg.RateLimitWindowSeconds)
	}
	if cfg.TrustProxy {
		// The proxy in front (an ingress controller) is a pod of the
		// cluster: its address is in the cluster's private ranges.
		s[runtime.EnvTrustedProxies] = strings.Join(ClusterProxyRanges, " ")
	}
	return s
}

// ClusterProxyRanges are trusted with trust_proxy on a cluster: the private
// ranges pod networks use (RFC 1918, RFC 4193).
var ClusterProxyRanges = []string{"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fd00::/8"}

// Default requests when memory_limit / cpu_limit are auto or none: what the
// scheduler reserves for an idle sandbox (opencode, nginx and a shell).
var (
	DefaultMemoryRequest = resource.MustParse("512Mi")
	DefaultCPURequest    = resource.MustParse("250m")
)

// Resources maps the config's limits onto the container: a size or a number
// of CPUs is the limit, and the request up to the default request; auto
// and none leave the limit to the cluster (its LimitRange), since there is
// no one host whose size auto could take.
func Resources(cfg *meta.Config) (corev1.ResourceRequirements, error) {
	r := corev1.ResourceRequirements{
		Requests: corev1.ResourceList{corev1.ResourceMemory: DefaultMemoryRequest, corev1.ResourceCPU: DefaultCPURequest},
	}
	mem, _, err := meta.ParseMemoryLimit(cfg.MemoryLimit)
	if err != nil {
		return r, errdefs.ErrInvalidArgument.WithMessage("memory_limit: " + err.Error())
	}
	cpus, _, err := meta.ParseCPULimit(cfg.CPULimit)
	if err != nil {
		return r, errdefs.ErrInvalidArgument.WithMessage("cpu_limit: " + err.Error())
	}
	if mem > 0 || cpus > 0 {
		r.Limits = corev1.ResourceList{}
	}
	if mem > 0 {
		q := *resource.NewQuantity(mem, resource.BinarySI)
		r.Limits[corev1.ResourceMemory] = q
		if q.Cmp(DefaultMemoryRequest) < 0 {
			r.Requests[corev1.ResourceMemory] = q
		}
	}
	if cpus > 0 {
		q := *resource.NewMilliQuantity(int64(math.Round(cpus*1000)), resource.DecimalSI)
		r.Limits[corev1.ResourceCPU] = q
		if q.Cmp(DefaultCPURequest) < 0 {
			r.Requests[corev1.ResourceCPU] = q
		}
	}
	return r, nil
}

// Capabilities are the host's (runtime.SandboxCapabilities) without the
// CAP_ prefix Kubernetes leaves out.
func Capabilities() []corev1.Capability {
	out := make([]corev1.Capability, len(runtime.SandboxCapabilities))
	for i, c := range runtime.SandboxCapabilities {
		out[i] = corev1.Capability(strings.TrimPrefix(c, "CAP_"))
	}
	return out
}

func statefulSet(o Options, image string, res corev1.ResourceRequirements, om metav1.ObjectMeta) *appsv1.StatefulSet {
	one := int32(1)
	f := false
	root := int64(0)
	grace := int64(30)
	hostUsers := o.HostUsers
	mounts := []corev1.VolumeMount{{Name: "users", MountPath: UsersMountDir, ReadOnly: true}}
	volumes := []corev1.Volume{{Name: "users", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{
		SecretName: UsersSecret, DefaultMode: ptr(int32(0o400)),
	}}}}
	for _, v := range runtime.Volumes {
		if v.Name == runtime.UsersVolume {
			continue
		}
		mounts = append(mounts, corev1.VolumeMount{Name: v.Name, MountPath: v.Target})
		volumes = append(volumes, corev1.Volume{Name: v.Name, VolumeSource: corev1.VolumeSource{
			PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: v.Name},
		}})
	}
	probe := func(period, failures int32) *corev1.Probe {
		return &corev1.Probe{
			ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{
				Path: HealthPath, Port: intstr.FromString(PortName), Scheme: corev1.URISchemeHTTP,
			}},
			PeriodSeconds: period, TimeoutSeconds: 5, FailureThreshold: failures,
		}
	}
	annotations := map[string]string{}
	if o.Previous != "" {
		annotations[AnnotationPrevious] = o.Previous
	}
	if o.Verified != "" {
		annotations[AnnotationVerified] = o.Verified
	}
	if len(annotations) > 0 {
		om.Annotations = annotations
	}
	podLabels := Selector()
	podLabels[LabelManagedBy] = "occ"
	return &appsv1.StatefulSet{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "StatefulSet"},
		ObjectMeta: om,
		Spec: appsv1.StatefulSetSpec{
			Replicas:    &one,
			ServiceName: Name,
			Selector:    &metav1.LabelSelector{MatchLabels: Selector()},
			// One pod with ReadWriteOnce volumes: the old pod goes before
			// the new one starts (an update is a restart, as on the host).
			PodManagementPolicy: appsv1.OrderedReadyPodManagement,
			UpdateStrategy:      appsv1.StatefulSetUpdateStrategy{Type: appsv1.RollingUpdateStatefulSetStrategyType},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: podLabels},
				Spec: corev1.PodSpec{
					// The sandbox talks to no API: no token in it.
					AutomountServiceAccountToken:  &f,
					EnableServiceLinks:            &f,
					HostUsers:                     &hostUsers,
					TerminationGracePeriodSeconds: &grace,
					SecurityContext: &corev1.PodSecurityContext{
						SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
					},
					Containers: []corev1.Container{{
						Name:            ContainerName,
						Image:           image,
						ImagePullPolicy: corev1.PullIfNotPresent,
						Ports: []corev1.ContainerPort{{
							Name: PortName, ContainerPort: runtime.ContainerPort, Protocol: corev1.ProtocolTCP,
						}},
						EnvFrom: []corev1.EnvFromSource{
							{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: Name}}},
							{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: EnvSecret}}},
						},
						WorkingDir: runtime.WorkingDir,
						Resources:  res,
						SecurityContext: &corev1.SecurityContext{
							// The entrypoint runs as root to restore the
							// accounts, then drops to opencoder; as on the host
							// it keeps six capabilities and never gains more.
							RunAsUser:                &root,
							AllowPrivilegeEscalation: &f,
							Privileged:               &f,
							Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}, Add: Capabilities()},
							SeccompProfile:           &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
							ReadOnlyRootFilesystem:   &f,
						},
						// opencode's first start can take a minute (the
						// entrypoint waits up to 120 s for it).
						StartupProbe:   probe(5, 36),
						ReadinessProbe: probe(10, 3),
						LivenessProbe:  probe(30, 3),
						VolumeMounts:   mounts,
					}},
					Volumes: volumes,
				},
			},
		},
	}
}

func ingress(cfg *meta.Config, om metav1.ObjectMeta) *networkingv1.Ingress {
	pathType := networkingv1.PathTypePrefix
	ing := &networkingv1.Ingress{
		TypeMeta:   metav1.TypeMeta{APIVersion: "networking.k8s.io/v1", Kind: "Ingress"},
		ObjectMeta: om,
		Spec: networkingv1.IngressSpec{
			Rules: []networkingv1.IngressRule{{
				Host: cfg.KubeIngressHost,
				IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{
					Paths: []networkingv1.HTTPIngressPath{{
						Path: "/", PathType: &pathType,
						Backend: networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{
							Name: Name, Port: networkingv1.ServiceBackendPort{Name: PortName},
						}},
					}},
				}},
			}},
		},
	}
	if cfg.KubeIngressClass != "" {
		c := cfg.KubeIngressClass
		ing.Spec.IngressClassName = &c
	}
	if cfg.KubeIngressTLS != "" {
		ing.Spec.TLS = []networkingv1.IngressTLS{{Hosts: []string{cfg.KubeIngressHost}, SecretName: cfg.KubeIngressTLS}}
	}
	return ing
}

func ptr[T any](v T) *T { return &v }
