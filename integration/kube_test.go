//go:build integration

package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/containerd/errdefs"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/opencode-cloud/occ/pkg/kube"
	"github.com/opencode-cloud/occ/pkg/meta"
	"github.com/opencode-cloud/occ/pkg/runtime"
)

// The kube tests run against a real kube-apiserver and etcd (hack/kube/cluster up; make test
// brings them up beside the testbed): every manifest occ renders must pass server-side apply,
// validation and admission (Pod Security baseline on the namespace) there. No node: nothing
// is scheduled (make kube runs the pod on a one-node cluster).

// kubeconfigForTest is the test cluster's kubeconfig: OCC_TEST_KUBECONFIG only, never
// $KUBECONFIG, so that a tester's real cluster is never touched.
func kubeconfigForTest(t *testing.T) string {
	t.Helper()
	p := os.Getenv("OCC_TEST_KUBECONFIG")
	if p == "" {
		t.Fatal("OCC_TEST_KUBECONFIG is not set: bring the API server up (hack/kube/cluster up && eval \"$(hack/kube/cluster env)\")")
	}
	return p
}

func kubeClient(t *testing.T, ns string) *kube.Client {
	t.Helper()
	rc, err := clientcmd.BuildConfigFromFlags("", kubeconfigForTest(t))
	if err != nil {
		t.Fatal(err)
	}
	kc, err := kube.NewClient(rc, ns, "test")
	if err != nil {
		t.Fatal(err)
	}
	return kc
}

func kubeCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

const kubeTestImage = "registry.example/occ-sandbox:1.0@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

// Every rendered variant passes server-side apply; a second apply changes nothing; what the
// server stored is what occ rendered (no field dropped by a disabled feature or a validation
// default), and delete removes it all.
func TestKubeManifestsApply(t *testing.T) {
	users := []runtime.UserRecord{
		{Username: "alice", PasswordHash: "$6$rounds=50000$c2FsdA$hash"},
		{Username: "bob", PasswordHash: "$6$rounds=50000$c2FsdA$other", Locked: true},
	}
	for _, tc := range []struct {
		name      string
		mutate    func(*meta.Config)
		users     []runtime.UserRecord
		hostUsers bool
	}{
		{name: "defaults", users: users},
		{name: "no-users"},
		{name: "host-userns", hostUsers: true, users: users},
		{name: "everything", users: users, mutate: func(c *meta.Config) {
			c.MemoryLimit, c.CPULimit = "2g", "1.5"
			c.ContainerEnv = []string{"ANTHROPIC_API_KEY=sk-test", "EMPTY="}
			c.TrustProxy = true
			c.RateLimitAttempts, c.RateLimitWindowSeconds = 7, 90
			c.KubeStorageClass = "fast-ssd"
			c.KubeVolumeSize = "50Gi"
			c.KubeIngressHost = "code.example.org"
			c.KubeIngressTLS = "code-example-org-tls"
			c.KubeIngressClass = "nginx"
		}},
		{name: "small-limits", mutate: func(c *meta.Config) { c.MemoryLimit, c.CPULimit = "256m", "0.1" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := kubeCtx(t)
			cfg := meta.DefaultConfig()
			if tc.mutate != nil {
				tc.mutate(cfg)
			}
			cfg.KubeNamespace = kubeTestNS(tc.name)
			kc := kubeClient(t, cfg.KubeNamespace)
			t.Cleanup(func() {
				cctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				defer cancel()
				if _, err := kc.Delete(cctx, kube.DeleteOptions{Volumes: true}); err != nil {
					t.Errorf("cleanup: %v", err)
				}
			})
			m, err := kube.Render(kube.Options{Config: cfg, Image: kubeTestImage, Users: tc.users, HostUsers: tc.hostUsers})
			if err != nil {
				t.Fatal(err)
			}
			// A dry run needs the namespace: refused clearly before it exists.
			if _, err := kc.Apply(ctx, m, kube.ApplyOptions{DryRun: true}); !errdefs.IsFailedPrecondition(err) {
				t.Fatalf("server-side dry run without the namespace: %v, want FailedPrecondition", err)
			}
			first, err := kc.Apply(ctx, m, kube.ApplyOptions{})
			if err != nil {
				t.Fatalf("apply: %v", err)
			}
			if len(first) != len(m.Objects()) {
				t.Fatalf("%d objects applied of %d", len(first), len(m.Objects()))
			}
			if _, err := kc.Apply(ctx, m, kube.ApplyOptions{DryRun: true}); err != nil {
				t.Fatalf("server-side dry run: %v", err)
			}
			again, err := kc.Apply(ctx, m, kube.ApplyOptions{})
			if err != nil {
				t.Fatalf("second apply: %v", err)
			}
			for i := range first {
				// (Claims are written again on every apply by this API server
				// without a controller-manager: left out of the check.)
				if first[i].Kind != "PersistentVolumeClaim" && first[i].ResourceVersion != again[i].ResourceVersion {
					t.Errorf("%s/%s changed on a second apply of the same manifest (%s -> %s)",
						first[i].Kind, first[i].Name, first[i].ResourceVersion, again[i].ResourceVersion)
				}
			}

			// What the server stored.
			sts, err := kc.Clientset.AppsV1().StatefulSets(cfg.KubeNamespace).Get(ctx, kube.Name, metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			pod := sts.Spec.Template.Spec
			if pod.HostUsers == nil || *pod.HostUsers != tc.hostUsers {
				t.Errorf("stored hostUsers %v, want %v", pod.HostUsers, tc.hostUsers)
			}
			c := pod.Containers[0]
			if c.Image != kubeTestImage || c.SecurityContext.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault ||
				*c.SecurityContext.AllowPrivilegeEscalation || len(c.SecurityContext.Capabilities.Add) != len(runtime.SandboxCapabilities) {
				t.Errorf("stored container differs from the rendered one: %+v", c)
			}
			if !apiEqual(t, c.Resources, m.StatefulSet.Spec.Template.Spec.Containers[0].Resources) {
				t.Errorf("stored resources %v, rendered %v", c.Resources, m.StatefulSet.Spec.Template.Spec.Containers[0].Resources)
			}
			back, err := kc.Users(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if len(back) != len(tc.users) {
				t.Errorf("users secret holds %d records, want %d", len(back), len(tc.users))
			}
			ns, err := kc.Clientset.CoreV1().Namespaces().Get(ctx, cfg.KubeNamespace, metav1.GetOptions{})
			if err != nil || ns.Labels["pod-security.kubernetes.io/enforce"] != "baseline" {
				t.Errorf("namespace %v: %v", ns.Labels, err)
			}
			if tc.name == "everything" {
				ing, err := kc.Clientset.NetworkingV1().Ingresses(cfg.KubeNamespace).Get(ctx, kube.Name, metav1.GetOptions{})
				if err != nil || ing.Spec.TLS[0].SecretName != "code-example-org-tls" {
					t.Errorf("ingress %+v: %v", ing, err)
				}
			}

			st, err := kc.Status(ctx)
			if err != nil || !st.Exists || st.Image != kubeTestImage || st.Users != len(tc.users) {
				t.Errorf("status %+v: %v", st, err)
			}
			deleted, err := kc.Delete(ctx, kube.DeleteOptions{Volumes: true})
			if err != nil {
				t.Fatal(err)
			}
			if want := len(m.Objects()); len(deleted) != want {
				t.Errorf("deleted %d objects, want %d: %v", len(deleted), want, deleted)
			}
		})
	}
}

// A manifest the API server refuses comes back as InvalidArgument with the server's reason.
func TestKubeApplyRefused(t *testing.T) {
	ctx := kubeCtx(t)
	ns := kubeTestNS("refused")
	kc := kubeClient(t, ns)
	t.Cleanup(func() { _, _ = kc.Delete(context.Background(), kube.DeleteOptions{Volumes: true}) })
	m, err := kube.Render(kube.Options{Image: kubeTestImage, Namespace: ns})
	if err != nil {
		t.Fatal(err)
	}
	m.StatefulSet.Spec.Template.Spec.Containers[0].Ports[0].ContainerPort = 70000
	_, err = kc.Apply(ctx, m, kube.ApplyOptions{})
	if !errdefs.IsInvalidArgument(err) || !strings.Contains(err.Error(), "containerPort") {
		t.Fatalf("apply of a bad port: %v, want InvalidArgument naming containerPort", err)
	}
}

// The commands against the API server: apply (a tag resolved to its digest in the testbed
// registry), users in the Secret, update refused before anything is applied when the
// signature policy requires one, status, delete.
func TestKubeCommands(t *testing.T) {
	kcfg := kubeconfigForTest(t)
	ns := kubeTestNS("commands")
	f := newCmdFixture(t, func(c *meta.Config) {
		c.ImageRepositories = []string{os.Getenv("OCC_TEST_REGISTRY") + "/test/busybox"}
		c.ImageVerify = meta.VerifyWarn
		c.KubeNamespace = ns
	})
	f.env = append(f.env, "KUBECONFIG="+kcfg)
	kc := kubeClient(t, ns)
	t.Cleanup(func() { _, _ = kc.Delete(context.Background(), kube.DeleteOptions{Volumes: true}) })

	r := f.mustOK("kube", "apply", "--json")
	var d kube.Deployed
	if err := json.Unmarshal([]byte(r.stdout), &d); err != nil {
		t.Fatalf("apply --json: %v\n%s", err, r)
	}
	if !strings.Contains(d.Image, "/test/busybox@sha256:") || d.Verified != "unverified (warn)" {
		t.Errorf("deployed %+v", d)
	}
	wantContains(t, "apply's warning", r.stderr, "not verified")
	wantContains(t, "apply --json's keys", r.stdout, `"kind": "Namespace"`, `"name": "`+ns+`"`, `"resource_version": "`)

	cmd := f.command("user", "add", "carol", "--kube")
	cmd.Stdin = strings.NewReader("correct horse battery\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("user add --kube: %v\n%s", err, out)
	}
	f.mustOK("user", "disable", "carol", "--kube")
	// The fixture's own users (their records, which apply rendered into
	// the Secret) are there too; carol is the one this test changed.
	users, err := kc.Users(f.ctx)
	var carol *runtime.UserRecord
	for i := range users {
		if users[i].Username == "carol" {
			carol = &users[i]
		}
	}
	if err != nil || carol == nil || !carol.Locked || !runtime.VerifyPassword(carol.PasswordHash, "correct horse battery") {
		t.Fatalf("users on the cluster %+v: %v", users, err)
	}
	if r := f.occ("user", "add", "carol", "--kube"); r.code == 0 || !strings.Contains(r.stderr, "already exists") {
		t.Errorf("second user add: %s", r)
	}
	r = f.mustOK("user", "list", "--kube")
	wantContains(t, "user list --kube", r.stdout, "carol", "disabled")
	r = f.mustOK("user", "list", "--kube", "--json")
	var listed struct {
		Users []map[string]any `json:"users"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &listed); err != nil || len(listed.Users) != len(users) {
		t.Fatalf("user list --kube --json: %v\n%s", err, r)
	}
	for _, u := range listed.Users {
		if u["username"] == "carol" && (u["enabled"] != false || len(u) != 2) {
			t.Errorf("user list --kube --json: carol is %v, want only username and enabled false", u)
		}
	}

	// require: the unsigned image is refused and the StatefulSet keeps its image.
	f.mustOK("config", "set", "image_verify", "require")
	// (update --kube finds the same digest and applies nothing; apply always verifies.)
	r = f.occ("kube", "apply")
	if r.code == 0 {
		t.Fatalf("kube apply of an unsigned image under require: %s", r)
	}
	wantContains(t, "refused apply", r.stderr, "signature", "nothing was applied")
	cur, _, err := kc.Current(f.ctx)
	if err != nil || cur != d.Image {
		t.Errorf("image after a refused update %q (%v), want %q", cur, err, d.Image)
	}

	// No node here, so no pod runs: port-forward says so and how to find out why.
	if r := f.occ("kube", "port-forward"); r.code == 0 || !strings.Contains(r.stderr, "no running sandbox pod") {
		t.Errorf("port-forward without a running pod: %s", r)
	}

	r = f.mustOK("kube", "status", "--json")
	var st kube.Status
	if err := json.Unmarshal([]byte(r.stdout), &st); err != nil || !st.Exists || st.Users != len(users) || st.Image != d.Image {
		t.Errorf("status %+v: %v\n%s", st, err, r)
	}
	if r := f.occ("kube", "delete", "--volumes"); r.code == 0 {
		t.Errorf("delete --volumes without --yes: %s", r)
	}
	f.mustOK("kube", "delete", "--volumes", "--yes")
	r = f.mustOK("kube", "status", "--json")
	if err := json.Unmarshal([]byte(r.stdout), &st); err != nil || st.Exists {
		t.Errorf("status after delete %+v: %v", st, err)
	}
}

// kubeTestNS is a namespace of this run's own: a deleted namespace stays
// Terminating on an API server without the namespace controller.
func kubeTestNS(name string) string {
	return fmt.Sprintf("occ-it-%s-%d", name, time.Now().UnixNano()%1_000_000)
}

func apiEqual(t *testing.T, a, b any) bool {
	t.Helper()
	ja, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	jb, err := json.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	return string(ja) == string(jb)
}
