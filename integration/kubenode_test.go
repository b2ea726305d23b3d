//go:build integration && kubenode

package integration

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/opencode-cloud/occ/internal/testutil"
	"github.com/opencode-cloud/occ/pkg/kube"
	"github.com/opencode-cloud/occ/pkg/meta"
	"github.com/opencode-cloud/occ/pkg/trust"
)

// The sandbox itself on a one-node cluster (make kube: hack/kube/cluster up --node, a kubelet on
// a containerd with its CRI plugin): the real image, published and signed to the testbed registry
// as a release is, deployed by `occ kube apply` by digest with its signature verified, reached
// through `occ kube port-forward`, logged into with users `occ user add --kube` made, changed
// without restarting the pod, updated to another signed digest with `occ update --kube`.

// kubeNodeImage is the sandbox published for the node: its index in repo, signed with the key
// whose public half is pubKey.
type kubeNodeImage struct {
	repo, index, platform string
	signer                trust.Signer
	pubKey                string
}

// publishForKube publishes the real sandbox with hack/publish-sandbox (BuildKit's cache in
// OCC_KUBE_BUILD_CACHE, the one make e2e fills: only an export, push and signature when e2e ran
// before) and signs it with a key made here.
func publishForKube(t *testing.T, ctx context.Context, tb testutil.Testbed) kubeNodeImage {
	t.Helper()
	dir := t.TempDir()
	priv, pub, err := trust.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	img := kubeNodeImage{repo: tb.Registry + "/kube/occ-sandbox", pubKey: filepath.Join(dir, "signing.pub")}
	if err := os.WriteFile(filepath.Join(dir, "signing.key"), priv, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(img.pubKey, pub, 0o644); err != nil {
		t.Fatal(err)
	}
	k, err := trust.ParsePrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	kp, err := trust.NewKeypair(k)
	if err != nil {
		t.Fatal(err)
	}
	img.signer = trust.Signer{Keypair: kp}
	summary := filepath.Join(dir, "publish.json")
	cmd := exec.CommandContext(ctx, "hack/publish-sandbox")
	cmd.Dir = testutil.ModuleRoot()
	cmd.Env = append(os.Environ(),
		"OCC_PUBLISH_BUILDKIT="+tb.Buildkit,
		"OCC_PUBLISH_REPOSITORIES="+img.repo,
		"OCC_PUBLISH_BASE_IMAGE=debian:bookworm-slim",
		"OCC_PUBLISH_BASE_CHECK_REF="+tb.Registry+"/library/debian:bookworm-slim",
		"OCC_PUBLISH_REVISION=",
		// The signature is what the node test checks; no SBOM attestation (it needs a scanner image).
		"OCC_PUBLISH_SBOM_SCANNER=none",
		"OCC_PUBLISH_SIGN_KEY="+filepath.Join(dir, "signing.key"),
		"OCC_PUBLISH_SUMMARY="+summary,
		"OCC_VERSION="+meta.Version)
	if c := os.Getenv("OCC_KUBE_BUILD_CACHE"); c != "" {
		cmd.Env = append(cmd.Env, "OCC_PUBLISH_CACHE_DIR="+c)
	}
	start := time.Now()
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("hack/publish-sandbox: %v\n%s", err, lastLinesOf(string(out), 40))
	}
	t.Logf("published and signed the sandbox in %s", time.Since(start).Round(100*time.Millisecond))
	data, err := os.ReadFile(summary)
	if err != nil {
		t.Fatal(err)
	}
	var sum struct {
		Digest    string `json:"digest"`
		Platforms []struct {
			Platform string `json:"platform"`
			Digest   string `json:"digest"`
		} `json:"platforms"`
	}
	if err := json.Unmarshal(data, &sum); err != nil {
		t.Fatalf("the publish summary: %v\n%s", err, data)
	}
	img.index = sum.Digest
	for _, p := range sum.Platforms {
		if p.Platform == "linux/"+goruntime.GOARCH {
			img.platform = p.Digest
		}
	}
	if img.index == "" || img.platform == "" {
		t.Fatalf("the publish summary names no index or linux/%s image: %s", goruntime.GOARCH, data)
	}
	return img
}

// signedVariant pushes the sandbox's image for this platform with one more label to tag, signs
// it with the same key and returns its digest: another signed digest to update to, whose
// layers the node already has.
func (img kubeNodeImage) signedVariant(t *testing.T, ctx context.Context, tag string) string {
	t.Helper()
	src, err := name.NewDigest(img.repo+"@"+img.platform, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	base, err := remote.Image(src, remote.WithContext(ctx))
	if err != nil {
		t.Fatal(err)
	}
	cf, err := base.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cfg := cf.Config
	labels := map[string]string{"org.opencode-cloud.kube-test": tag}
	for k, v := range cfg.Labels {
		labels[k] = v
	}
	cfg.Labels = labels
	variant, err := mutate.Config(base, cfg)
	if err != nil {
		t.Fatal(err)
	}
	dst, err := name.NewTag(img.repo+":"+tag, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(dst, variant, remote.WithContext(ctx)); err != nil {
		t.Fatal(err)
	}
	d, err := variant.Digest()
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := trust.SignImage(ctx, img.signer, dst.Context().Digest(d.String()), nil, time.Now(), remote.WithContext(ctx)); err != nil {
		t.Fatalf("sign %s: %v", dst, err)
	}
	return d.String()
}

func lastLinesOf(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// requireNode fails unless the cluster has a ready node.
func requireNode(t *testing.T, ctx context.Context, kc *kube.Client) {
	t.Helper()
	nodes, err := kc.Clientset.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes.Items {
		for _, c := range n.Status.Conditions {
			if c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue {
				return
			}
		}
	}
	t.Fatalf("no ready node among %d: bring the one-node cluster up (hack/kube/cluster up --node, or make kube)", len(nodes.Items))
}

// portForward runs `occ kube port-forward --json` until the test ends and returns the URL it
// prints once it listens.
func portForward(t *testing.T, f *cmdFixture) string {
	t.Helper()
	ctx, cancel := context.WithCancel(f.ctx)
	cmd := exec.CommandContext(ctx, f.bin, "kube", "port-forward", "--json")
	cmd.Env = f.env
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		_ = cmd.Wait()
	})
	line := make(chan string, 1)
	go func() {
		s := bufio.NewScanner(stdout)
		if s.Scan() {
			line <- s.Text()
		}
		close(line)
		_, _ = io.Copy(io.Discard, stdout)
	}()
	select {
	case l, ok := <-line:
		var fw kube.Forwarding
		if !ok || json.Unmarshal([]byte(l), &fw) != nil || fw.URL == "" {
			t.Fatalf("occ kube port-forward printed %q; stderr: %s", l, stderr.String())
		}
		return strings.TrimSuffix(fw.URL, "/")
	case <-time.After(time.Minute):
		t.Fatalf("occ kube port-forward did not listen within a minute; stderr: %s", stderr.String())
	}
	return ""
}

// login asks the gateway for / as user and returns the status.
func login(t *testing.T, base, user, password string) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, base+"/", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth(user, password)
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		t.Fatalf("GET / through the port-forward as %s: %v", user, err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode
}

// sandboxPod is the StatefulSet's pod: its UID and the sandbox container's restarts.
func sandboxPod(t *testing.T, ctx context.Context, kc *kube.Client) (uid string, restarts int32, image string) {
	t.Helper()
	p, err := kc.RunningPod(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, cs := range p.Status.ContainerStatuses {
		if cs.Name == kube.ContainerName {
			restarts = cs.RestartCount
		}
	}
	for _, c := range p.Spec.Containers {
		if c.Name == kube.ContainerName {
			image = c.Image
		}
	}
	return string(p.UID), restarts, image
}

func TestKubeNodeSandbox(t *testing.T) {
	tb := testutil.RequireTestbed(t)
	kcfg := kubeconfigForTest(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	t.Cleanup(cancel)
	ns := kubeTestNS("node")
	kc := kubeClient(t, ns)
	requireNode(t, ctx, kc)

	img := publishForKube(t, ctx, tb)
	f := newCmdFixture(t, func(c *meta.Config) {
		c.ImageRepositories = []string{img.repo}
		c.ImageTag = "latest"
		c.ImageVerify = meta.VerifyRequire
		c.ImageVerifyKey = img.pubKey
		c.KubeNamespace = ns
		c.Users = nil
		// No internet here: opencode must not wait for models.dev. Logins again after every
		// account change: more than the default 5 a minute.
		c.ContainerEnv = []string{"OPENCODE_CLOUD_OFFLINE=1"}
		c.RateLimitAttempts = 1000
	})
	f.ctx = ctx
	f.env = append(f.env, "KUBECONFIG="+kcfg)
	t.Cleanup(func() {
		if t.Failed() {
			r := f.occ("kube", "status")
			t.Logf("occ kube status:\n%s", r)
			r = f.occ("kube", "logs", "-n", "60")
			t.Logf("occ kube logs:\n%s", r)
		}
		cctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if _, err := kc.Delete(cctx, kube.DeleteOptions{Volumes: true}); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})

	// 1. Apply by digest, the signature verified, and wait for the pod.
	start := time.Now()
	r := f.mustOK("kube", "apply", "--wait", "10m", "--json")
	podStart := time.Since(start)
	var d kube.Deployed
	if err := json.Unmarshal([]byte(r.stdout), &d); err != nil {
		t.Fatalf("apply --json: %v\n%s", err, r)
	}
	if d.Image != img.repo+"@"+img.index || !strings.HasPrefix(d.Verified, "verified key") {
		t.Errorf("deployed %+v, want %s@%s verified with the key", d, img.repo, img.index)
	}
	t.Logf("occ kube apply → pod ready: %s", podStart.Round(100*time.Millisecond))
	uid, restarts, _ := sandboxPod(t, ctx, kc)

	// 2. A user added on the cluster logs in through the port-forward.
	start = time.Now()
	cmd := f.command("user", "add", "bob", "--kube")
	cmd.Stdin = strings.NewReader("bob-secret-1\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("user add bob --kube: %v\n%s", err, out)
	}
	userAdd := time.Since(start)
	base := portForward(t, f)
	start = time.Now()
	if code := login(t, base, "bob", "bob-secret-1"); code != http.StatusOK {
		t.Fatalf("bob's login through the port-forward: %d, want 200", code)
	}
	t.Logf("occ user add --kube: %s; first login through the port-forward: %s",
		userAdd.Round(100*time.Millisecond), time.Since(start).Round(time.Millisecond))
	if code := login(t, base, "bob", "wrong"); code != http.StatusUnauthorized {
		t.Errorf("bob with a wrong password: %d, want 401", code)
	}

	// 3. A new password and a second user count at once, without a restart.
	cmd = f.command("user", "passwd", "bob", "--kube")
	cmd.Stdin = strings.NewReader("bob-secret-2\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("user passwd bob --kube: %v\n%s", err, out)
	}
	cmd = f.command("user", "add", "carol", "--kube")
	cmd.Stdin = strings.NewReader("carol-secret\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("user add carol --kube: %v\n%s", err, out)
	}
	for _, c := range []struct {
		user, password string
		want           int
	}{{"bob", "bob-secret-2", 200}, {"bob", "bob-secret-1", 401}, {"carol", "carol-secret", 200}} {
		if code := login(t, base, c.user, c.password); code != c.want {
			t.Errorf("after the changes, %s with %q: %d, want %d", c.user, c.password, code, c.want)
		}
	}
	if uid2, restarts2, _ := sandboxPod(t, ctx, kc); uid2 != uid || restarts2 != restarts || restarts2 != 0 {
		t.Errorf("pod after the user changes: uid %s restarts %d, before %s restarts %d (want the same pod, no restart)",
			uid2, restarts2, uid, restarts)
	}

	// 4. Status and logs of the real pod.
	r = f.mustOK("kube", "status", "--json")
	var st kube.Status
	if err := json.Unmarshal([]byte(r.stdout), &st); err != nil || len(st.Pods) != 1 || !st.Pods[0].Ready ||
		st.Pods[0].Restarts != 0 || st.Users != 2 || !strings.HasPrefix(st.Verified, "verified key") {
		t.Errorf("kube status %+v: %v\n%s", st, err, r)
	}
	r = f.mustOK("kube", "logs", "-n", "200")
	if strings.TrimSpace(r.stdout) == "" {
		t.Errorf("kube logs printed nothing")
	}

	// 5. occ update --kube to another signed digest: the pod is replaced, the users stay.
	variant := img.signedVariant(t, ctx, "kube-update")
	f.mustOK("config", "set", "image_tag", "kube-update")
	start = time.Now()
	f.mustOK("update", "--kube")
	want := img.repo + "@" + variant
	wctx, wcancel := context.WithTimeout(ctx, 10*time.Minute)
	defer wcancel()
	if _, err := kc.WaitReady(wctx, want, 2*time.Second); err != nil {
		t.Fatalf("after occ update --kube: %v", err)
	}
	t.Logf("occ update --kube → new pod ready: %s", time.Since(start).Round(100*time.Millisecond))
	uid3, _, image3 := sandboxPod(t, ctx, kc)
	if uid3 == uid || image3 != want {
		t.Errorf("after the update: pod %s image %s, want a new pod running %s", uid3, image3, want)
	}
	base = portForward(t, f)
	if code := login(t, base, "carol", "carol-secret"); code != http.StatusOK {
		t.Errorf("carol after the update: %d, want 200", code)
	}
	r = f.mustOK("kube", "status", "--json")
	if err := json.Unmarshal([]byte(r.stdout), &st); err != nil || st.Previous != d.Image || st.Image != want {
		t.Errorf("status after the update %+v: %v", st, err)
	}
}
