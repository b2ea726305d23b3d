package kube

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/containerd/errdefs"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"sigs.k8s.io/yaml"

	"github.com/opencode-cloud/occ/pkg/meta"
	"github.com/opencode-cloud/occ/pkg/runtime"
)

const testImage = "registry.example/occ-sandbox@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

func testUsers(t *testing.T) []runtime.UserRecord {
	t.Helper()
	return []runtime.UserRecord{
		{Username: "alice", PasswordHash: "$6$rounds=50000$salt$hash"},
		{Username: "bob", PasswordHash: "$6$rounds=50000$salt$other", Locked: true},
	}
}

func TestPinnedImage(t *testing.T) {
	for _, tc := range []struct {
		ref, want string
		ok        bool
	}{
		{testImage, testImage, true},
		{"occ-sandbox@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", "docker.io/library/occ-sandbox@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", true},
		{"registry.example/occ-sandbox:1.0@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", "registry.example/occ-sandbox:1.0@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", true},
		{"registry.example/occ-sandbox:1.0", "", false},
		{"registry.example/occ-sandbox", "", false},
		{"Not An Image", "", false},
	} {
		got, err := PinnedImage(tc.ref)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("PinnedImage(%q) = %q, %v; want %q, ok %v", tc.ref, got, err, tc.want, tc.ok)
		}
		if err != nil && !errdefs.IsInvalidArgument(err) {
			t.Errorf("PinnedImage(%q): %v is not InvalidArgument", tc.ref, err)
		}
	}
}

func TestRenderIsolation(t *testing.T) {
	m, err := Render(Options{Config: meta.DefaultConfig(), Image: testImage, Users: testUsers(t)})
	if err != nil {
		t.Fatal(err)
	}
	pod := m.StatefulSet.Spec.Template.Spec
	c := pod.Containers[0]
	if c.Image != testImage {
		t.Errorf("image %s, want %s", c.Image, testImage)
	}
	if pod.HostUsers == nil || *pod.HostUsers {
		t.Errorf("hostUsers %v, want false (a user namespace)", pod.HostUsers)
	}
	if pod.AutomountServiceAccountToken == nil || *pod.AutomountServiceAccountToken {
		t.Error("the service account token is mounted")
	}
	sc := c.SecurityContext
	if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		t.Error("privilege escalation allowed")
	}
	if sc.SeccompProfile == nil || sc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("seccomp %v, want RuntimeDefault", sc.SeccompProfile)
	}
	if len(sc.Capabilities.Drop) != 1 || sc.Capabilities.Drop[0] != "ALL" {
		t.Errorf("dropped %v, want ALL", sc.Capabilities.Drop)
	}
	var added []string
	for _, a := range sc.Capabilities.Add {
		added = append(added, "CAP_"+string(a))
	}
	if strings.Join(added, ",") != strings.Join(runtime.SandboxCapabilities, ",") {
		t.Errorf("added %v, want the host's %v", added, runtime.SandboxCapabilities)
	}
	for name, p := range map[string]*corev1.Probe{"startup": c.StartupProbe, "readiness": c.ReadinessProbe, "liveness": c.LivenessProbe} {
		if p == nil || p.HTTPGet == nil || p.HTTPGet.Path != HealthPath || p.HTTPGet.Port.StrVal != PortName {
			t.Errorf("%s probe %+v, want GET %s on %s", name, p, HealthPath, PortName)
		}
	}
	if m.Namespace.Labels["pod-security.kubernetes.io/enforce"] != "baseline" {
		t.Errorf("namespace labels %v", m.Namespace.Labels)
	}
	if m.Ingress != nil {
		t.Error("an Ingress without kube_ingress_host")
	}
	// Every host volume is a claim mounted at the same path, but the users
	// volume, which is the Secret.
	mounts := map[string]string{}
	for _, vm := range c.VolumeMounts {
		mounts[vm.Name] = vm.MountPath
	}
	for _, v := range runtime.Volumes {
		want := v.Target
		name := v.Name
		if v.Name == runtime.UsersVolume {
			name, want = "users", UsersMountDir
		}
		if mounts[name] != want {
			t.Errorf("volume %s mounted at %q, want %q", name, mounts[name], want)
		}
	}
	if len(m.Claims) != len(runtime.Volumes)-1 {
		t.Errorf("%d claims for %d volumes", len(m.Claims), len(runtime.Volumes))
	}
	for _, cl := range m.Claims {
		want := resource.MustParse(OtherVolumeSize)
		if cl.Name == "opencode-workspace" {
			want = resource.MustParse(meta.DefaultKubeVolumeSize)
		}
		if got := cl.Spec.Resources.Requests[corev1.ResourceStorage]; got.Cmp(want) != 0 {
			t.Errorf("claim %s requests %s, want %s", cl.Name, got.String(), want.String())
		}
		if cl.Spec.StorageClassName != nil {
			t.Errorf("claim %s names storage class %s without kube_storage_class", cl.Name, *cl.Spec.StorageClassName)
		}
	}
}

func TestRenderUsersSecret(t *testing.T) {
	users := testUsers(t)
	m, err := Render(Options{Image: testImage, Users: users})
	if err != nil {
		t.Fatal(err)
	}
	back, err := UsersFromData(m.UsersSecret.Data)
	if err != nil {
		t.Fatal(err)
	}
	if len(back) != 2 || back[0] != users[0] || back[1] != users[1] {
		t.Errorf("records %+v, want %+v", back, users)
	}
	for _, bad := range [][]runtime.UserRecord{
		{{Username: "Alice", PasswordHash: "$6$x$y"}},
		{{Username: "alice", PasswordHash: "plain"}},
		{{Username: "alice", PasswordHash: "$6$x$y"}, {Username: "alice", PasswordHash: "$6$x$z"}},
	} {
		if _, err := Render(Options{Image: testImage, Users: bad}); err == nil {
			t.Errorf("users %+v rendered", bad)
		}
	}
}

func TestRenderResources(t *testing.T) {
	for _, tc := range []struct {
		mem, cpu                       string
		limMem, limCPU, reqMem, reqCPU string
	}{
		{"auto", "auto", "", "", "512Mi", "250m"},
		{"none", "none", "", "", "512Mi", "250m"},
		{"4g", "1.5", "4Gi", "1500m", "512Mi", "250m"},
		{"256m", "0.1", "256Mi", "100m", "256Mi", "100m"},
	} {
		cfg := meta.DefaultConfig()
		cfg.MemoryLimit, cfg.CPULimit = tc.mem, tc.cpu
		r, err := Resources(cfg)
		if err != nil {
			t.Fatalf("%s/%s: %v", tc.mem, tc.cpu, err)
		}
		check := func(what string, l corev1.ResourceList, k corev1.ResourceName, want string) {
			q, ok := l[k]
			if want == "" {
				if ok {
					t.Errorf("%s/%s: %s %s = %s, want none", tc.mem, tc.cpu, what, k, q.String())
				}
				return
			}
			if !ok || q.Cmp(resource.MustParse(want)) != 0 {
				t.Errorf("%s/%s: %s %s = %s, want %s", tc.mem, tc.cpu, what, k, q.String(), want)
			}
		}
		check("limit", r.Limits, corev1.ResourceMemory, tc.limMem)
		check("limit", r.Limits, corev1.ResourceCPU, tc.limCPU)
		check("request", r.Requests, corev1.ResourceMemory, tc.reqMem)
		check("request", r.Requests, corev1.ResourceCPU, tc.reqCPU)
	}
	cfg := meta.DefaultConfig()
	cfg.MemoryLimit = "lots"
	if _, err := Render(Options{Config: cfg, Image: testImage}); !errors.Is(err, errdefs.ErrInvalidArgument) {
		t.Errorf("memory_limit lots: %v", err)
	}
}

func TestRenderSettingsAndIngress(t *testing.T) {
	cfg := meta.DefaultConfig()
	cfg.ContainerEnv = []string{"ANTHROPIC_API_KEY=sk-1", "LD_PRELOAD=/tmp/x.so", "EMPTY="}
	cfg.TrustProxy = true
	cfg.RateLimitAttempts = 9
	cfg.KubeIngressHost = "code.example.org"
	cfg.KubeIngressTLS = "code-tls"
	cfg.KubeIngressClass = "nginx"
	cfg.KubeStorageClass = "fast"
	cfg.KubeNamespace = "team-a"
	m, err := Render(Options{Config: cfg, Image: testImage})
	if err != nil {
		t.Fatal(err)
	}
	if string(m.EnvSecret.Data["ANTHROPIC_API_KEY"]) != "sk-1" || m.EnvSecret.Data["LD_PRELOAD"] != nil {
		t.Errorf("env secret %v", m.EnvSecret.Data)
	}
	if v, ok := m.EnvSecret.Data["EMPTY"]; !ok || len(v) != 0 {
		t.Errorf("EMPTY= lost: %v", m.EnvSecret.Data)
	}
	if m.ConfigMap.Data[runtime.EnvLoginAttempts] != "9" || !strings.Contains(m.ConfigMap.Data[runtime.EnvTrustedProxies], "10.0.0.0/8") {
		t.Errorf("settings %v", m.ConfigMap.Data)
	}
	if m.ConfigMap.Data["OPENCODE_USERS_DIR"] != UsersMountDir {
		t.Errorf("OPENCODE_USERS_DIR %q", m.ConfigMap.Data["OPENCODE_USERS_DIR"])
	}
	ing := m.Ingress
	if ing == nil || ing.Spec.Rules[0].Host != "code.example.org" || ing.Spec.TLS[0].SecretName != "code-tls" || *ing.Spec.IngressClassName != "nginx" {
		t.Fatalf("ingress %+v", ing)
	}
	for _, o := range m.Objects()[1:] {
		if ns := o.(interface{ GetNamespace() string }).GetNamespace(); ns != "team-a" {
			t.Errorf("%T in namespace %q", o, ns)
		}
	}
	if *m.Claims[0].Spec.StorageClassName != "fast" {
		t.Errorf("storage class %v", m.Claims[0].Spec.StorageClassName)
	}
}

// The YAML stream reads back into the same objects, and every document
// names its apiVersion and kind (kubectl apply -f needs them).
func TestRenderYAML(t *testing.T) {
	m, err := Render(Options{Image: testImage, Users: testUsers(t)})
	if err != nil {
		t.Fatal(err)
	}
	y, err := m.YAML()
	if err != nil {
		t.Fatal(err)
	}
	docs := bytes.Split(y, []byte("---\n"))
	if len(docs) != len(m.Objects()) {
		t.Fatalf("%d documents for %d objects", len(docs), len(m.Objects()))
	}
	for _, d := range docs {
		var tm struct{ APIVersion, Kind string }
		if err := yaml.Unmarshal(d, &tm); err != nil || tm.APIVersion == "" || tm.Kind == "" {
			t.Errorf("document without apiVersion/kind (%v):\n%s", err, d)
		}
	}
	var sts appsv1.StatefulSet
	if err := yaml.UnmarshalStrict(docs[len(docs)-2], &sts); err != nil {
		t.Fatal(err)
	}
	if sts.Spec.Template.Spec.Containers[0].Image != testImage {
		t.Errorf("statefulset image %s", sts.Spec.Template.Spec.Containers[0].Image)
	}
}
