package kube

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"time"

	"github.com/containerd/errdefs"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// Client drives one instance on a cluster.
type Client struct {
	Clientset kubernetes.Interface
	Dynamic   dynamic.Interface
	REST      *rest.Config
	// Namespace is the instance's namespace.
	Namespace string
	// Context is the kubeconfig context in use (for messages).
	Context string
}

// Connect reads the kubeconfig as kubectl does ($KUBECONFIG, else
// ~/.kube/config; kubeconfig overrides both) and uses context (empty: the
// current one).
func Connect(kubeconfig, kubeContext, namespace string) (*Client, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	if kubeconfig != "" {
		rules.ExplicitPath = kubeconfig
	}
	overrides := &clientcmd.ConfigOverrides{CurrentContext: kubeContext}
	cc := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, overrides)
	rc, err := cc.ClientConfig()
	if err != nil {
		if clientcmd.IsEmptyConfig(err) {
			return nil, errdefs.ErrFailedPrecondition.WithMessage(
				"no kubeconfig: set $KUBECONFIG or --kubeconfig to a cluster's kubeconfig (the file kubectl uses)")
		}
		return nil, fmt.Errorf("kubeconfig: %w (check the file and the context: kubectl config get-contexts)", err)
	}
	raw, err := cc.RawConfig()
	if err == nil && kubeContext == "" {
		kubeContext = raw.CurrentContext
	}
	return NewClient(rc, namespace, kubeContext)
}

// NewClient uses a REST config (tests, or a config made elsewhere).
func NewClient(rc *rest.Config, namespace, kubeContext string) (*Client, error) {
	rc = rest.CopyConfig(rc)
	if rc.UserAgent == "" {
		rc.UserAgent = "occ"
	}
	cs, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return nil, fmt.Errorf("kubernetes client: %w", err)
	}
	dyn, err := dynamic.NewForConfig(rc)
	if err != nil {
		return nil, fmt.Errorf("kubernetes client: %w", err)
	}
	return &Client{Clientset: cs, Dynamic: dyn, REST: rc, Namespace: namespace, Context: kubeContext}, nil
}

// resources maps the kinds Render makes to their API resources.
var resources = map[string]schema.GroupVersionResource{
	"Namespace":             {Version: "v1", Resource: "namespaces"},
	"Secret":                {Version: "v1", Resource: "secrets"},
	"ConfigMap":             {Version: "v1", Resource: "configmaps"},
	"PersistentVolumeClaim": {Version: "v1", Resource: "persistentvolumeclaims"},
	"Service":               {Version: "v1", Resource: "services"},
	"StatefulSet":           {Group: "apps", Version: "v1", Resource: "statefulsets"},
	"Ingress":               {Group: "networking.k8s.io", Version: "v1", Resource: "ingresses"},
}

// Applied is one object after server-side apply.
type Applied struct {
	Kind            string `json:"kind"`
	Name            string `json:"name"`
	ResourceVersion string `json:"resource_version"`
}

// ApplyOptions tune Apply.
type ApplyOptions struct {
	// DryRun has the API server validate and admit every object without
	// storing it (server-side dry run).
	DryRun bool
}

// Apply sends every manifest with server-side apply as field manager occ,
// forcing occ's ownership of the fields it sets (occ is the source of the
// instance; another manager's change to them is overwritten, as kubectl
// apply --server-side --force-conflicts does).
func (c *Client) Apply(ctx context.Context, m *Manifests, o ApplyOptions) ([]Applied, error) {
	var out []Applied
	if o.DryRun {
		// A dry run stores nothing, so the objects in a namespace that does
		// not exist yet cannot be admitted: say so instead of a not found.
		_, err := c.Clientset.CoreV1().Namespaces().Get(ctx, m.Namespace.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return nil, errdefs.ErrFailedPrecondition.WithMessage(fmt.Sprintf(
				"namespace %s does not exist yet, so a server-side dry run cannot check the objects in it: create it (kubectl create namespace %s) or apply once", m.Namespace.Name, m.Namespace.Name))
		}
	}
	for _, obj := range m.Objects() {
		u, err := toUnstructured(obj)
		if err != nil {
			return out, err
		}
		gvr, ok := resources[u.GetKind()]
		if !ok {
			return out, fmt.Errorf("no API resource for kind %s", u.GetKind())
		}
		opts := metav1.ApplyOptions{FieldManager: FieldManager, Force: true}
		if o.DryRun {
			opts.DryRun = []string{metav1.DryRunAll}
		}
		var ri dynamic.ResourceInterface = c.Dynamic.Resource(gvr)
		if ns := u.GetNamespace(); ns != "" {
			ri = c.Dynamic.Resource(gvr).Namespace(ns)
		}
		res, err := ri.Apply(ctx, u.GetName(), u, opts)
		if err != nil {
			return out, fmt.Errorf("apply %s %s: %w", u.GetKind(), u.GetName(), classify(err))
		}
		out = append(out, Applied{Kind: u.GetKind(), Name: u.GetName(), ResourceVersion: res.GetResourceVersion()})
	}
	return out, nil
}

// toUnstructured turns a typed object into what the dynamic client sends,
// without the empty status and creationTimestamp the conversion adds.
func toUnstructured(obj k8sruntime.Object) (*unstructured.Unstructured, error) {
	m, err := k8sruntime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		return nil, fmt.Errorf("convert %T: %w", obj, err)
	}
	delete(m, "status")
	if md, ok := m["metadata"].(map[string]any); ok {
		delete(md, "creationTimestamp")
	}
	if spec, ok := m["spec"].(map[string]any); ok {
		if tmpl, ok := spec["template"].(map[string]any); ok {
			if md, ok := tmpl["metadata"].(map[string]any); ok {
				delete(md, "creationTimestamp")
			}
		}
	}
	return &unstructured.Unstructured{Object: m}, nil
}

// classify maps the API's refusals onto errdefs classes, keeping the
// message (which says what the server refused).
func classify(err error) error {
	switch {
	case apierrors.IsNotFound(err):
		return fmt.Errorf("%w: %w", errdefs.ErrNotFound, err)
	case apierrors.IsInvalid(err), apierrors.IsBadRequest(err):
		return fmt.Errorf("%w: %w", errdefs.ErrInvalidArgument, err)
	case apierrors.IsForbidden(err), apierrors.IsUnauthorized(err):
		return fmt.Errorf("%w: %w", errdefs.ErrPermissionDenied, err)
	case apierrors.IsConflict(err), apierrors.IsAlreadyExists(err):
		return fmt.Errorf("%w: %w", errdefs.ErrConflict, err)
	case apierrors.IsServerTimeout(err), apierrors.IsTimeout(err), apierrors.IsServiceUnavailable(err):
		return fmt.Errorf("%w: %w", errdefs.ErrUnavailable, err)
	}
	return err
}

// PodStatus is the sandbox pod as the cluster reports it.
type PodStatus struct {
	Name      string    `json:"name"`
	Phase     string    `json:"phase"`
	Ready     bool      `json:"ready"`
	Restarts  int32     `json:"restarts"`
	Node      string    `json:"node,omitempty"`
	IP        string    `json:"ip,omitempty"`
	Image     string    `json:"image"`
	ImageID   string    `json:"image_id,omitempty"`
	StartedAt time.Time `json:"started_at,omitzero"`
	// Reason says why it is not running (a waiting or terminated state, an
	// unschedulable condition).
	Reason string `json:"reason,omitempty"`
}

// Status is the instance: its StatefulSet and pod.
type Status struct {
	Context   string      `json:"context,omitempty"`
	Namespace string      `json:"namespace"`
	Exists    bool        `json:"exists"`
	Image     string      `json:"image,omitempty"`
	Previous  string      `json:"previous,omitempty"`
	Verified  string      `json:"verified,omitempty"`
	Replicas  int32       `json:"replicas"`
	Ready     int32       `json:"ready"`
	Updated   int32       `json:"updated"`
	Revision  string      `json:"revision,omitempty"`
	Pods      []PodStatus `json:"pods"`
	Users     int         `json:"users"`
}

// Status reads the StatefulSet, its pods and the users Secret.
func (c *Client) Status(ctx context.Context) (*Status, error) {
	st := &Status{Context: c.Context, Namespace: c.Namespace, Pods: []PodStatus{}}
	sts, err := c.Clientset.AppsV1().StatefulSets(c.Namespace).Get(ctx, Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return st, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read statefulset %s/%s: %w", c.Namespace, Name, classify(err))
	}
	st.Exists = true
	st.Image = sandboxImage(sts)
	st.Previous = sts.Annotations[AnnotationPrevious]
	st.Verified = sts.Annotations[AnnotationVerified]
	if sts.Spec.Replicas != nil {
		st.Replicas = *sts.Spec.Replicas
	}
	st.Ready = sts.Status.ReadyReplicas
	st.Updated = sts.Status.UpdatedReplicas
	st.Revision = sts.Status.UpdateRevision
	pods, err := c.pods(ctx)
	if err != nil {
		return nil, err
	}
	for _, p := range pods {
		st.Pods = append(st.Pods, podStatus(p))
	}
	if sec, err := c.Clientset.CoreV1().Secrets(c.Namespace).Get(ctx, UsersSecret, metav1.GetOptions{}); err == nil {
		users, _ := UsersFromData(sec.Data)
		st.Users = len(users)
	}
	return st, nil
}

func sandboxImage(sts *appsv1.StatefulSet) string {
	for _, ct := range sts.Spec.Template.Spec.Containers {
		if ct.Name == ContainerName {
			return ct.Image
		}
	}
	return ""
}

func (c *Client) pods(ctx context.Context) ([]corev1.Pod, error) {
	list, err := c.Clientset.CoreV1().Pods(c.Namespace).List(ctx, metav1.ListOptions{
		LabelSelector: labels.SelectorFromSet(Selector()).String(),
	})
	if err != nil {
		return nil, fmt.Errorf("list pods in %s: %w", c.Namespace, classify(err))
	}
	sort.Slice(list.Items, func(i, j int) bool { return list.Items[i].Name < list.Items[j].Name })
	return list.Items, nil
}

func podStatus(p corev1.Pod) PodStatus {
	ps := PodStatus{Name: p.Name, Phase: string(p.Status.Phase), Node: p.Spec.NodeName, IP: p.Status.PodIP}
	for _, ct := range p.Spec.Containers {
		if ct.Name == ContainerName {
			ps.Image = ct.Image
		}
	}
	for _, cs := range p.Status.ContainerStatuses {
		if cs.Name != ContainerName {
			continue
		}
		ps.Ready = cs.Ready
		ps.Restarts = cs.RestartCount
		ps.ImageID = cs.ImageID
		switch {
		case cs.State.Running != nil:
			ps.StartedAt = cs.State.Running.StartedAt.UTC() // client-go gives local time; docs/json.md promises UTC
		case cs.State.Waiting != nil:
			ps.Reason = cs.State.Waiting.Reason
			if cs.State.Waiting.Message != "" {
				ps.Reason += ": " + cs.State.Waiting.Message
			}
		case cs.State.Terminated != nil:
			ps.Reason = fmt.Sprintf("%s (exit %d)", cs.State.Terminated.Reason, cs.State.Terminated.ExitCode)
		}
	}
	if ps.Reason == "" {
		for _, cond := range p.Status.Conditions {
			if cond.Type == corev1.PodScheduled && cond.Status != corev1.ConditionTrue {
				ps.Reason = cond.Reason + ": " + cond.Message
			}
		}
	}
	return ps
}

// RunningPod is the sandbox's pod when it is running, else ErrNotFound.
func (c *Client) RunningPod(ctx context.Context) (*corev1.Pod, error) {
	pods, err := c.pods(ctx)
	if err != nil {
		return nil, err
	}
	for i := range pods {
		if pods[i].Status.Phase == corev1.PodRunning && pods[i].DeletionTimestamp == nil {
			return &pods[i], nil
		}
	}
	return nil, errdefs.ErrNotFound.WithMessage(fmt.Sprintf("no running sandbox pod in namespace %s (occ kube status says why)", c.Namespace))
}

// LogOptions select the logs.
type LogOptions struct {
	Follow   bool
	Tail     int64 // lines from the end; 0: all
	Since    time.Duration
	Previous bool // the container's previous run (after a restart)
}

// Logs copies the sandbox container's log from the API server to w.
func (c *Client) Logs(ctx context.Context, w io.Writer, o LogOptions) error {
	pods, err := c.pods(ctx)
	if err != nil {
		return err
	}
	if len(pods) == 0 {
		return errdefs.ErrNotFound.WithMessage(fmt.Sprintf("no sandbox pod in namespace %s: occ kube apply creates it", c.Namespace))
	}
	po := &corev1.PodLogOptions{Container: ContainerName, Follow: o.Follow, Previous: o.Previous}
	if o.Tail > 0 {
		po.TailLines = &o.Tail
	}
	if o.Since > 0 {
		s := int64(o.Since.Seconds())
		po.SinceSeconds = &s
	}
	rc, err := c.Clientset.CoreV1().Pods(c.Namespace).GetLogs(pods[0].Name, po).Stream(ctx)
	if err != nil {
		return fmt.Errorf("logs of pod %s: %w", pods[0].Name, classify(err))
	}
	defer rc.Close()
	if _, err := io.Copy(w, rc); err != nil && ctx.Err() == nil {
		return fmt.Errorf("logs of pod %s: %w", pods[0].Name, err)
	}
	return nil
}

// DeleteOptions say how much goes.
type DeleteOptions struct {
	// Volumes deletes the claims too (the workspace and opencode's data
	// with them) and the namespace.
	Volumes bool
}

// Deleted lists what Delete removed.
type Deleted struct {
	Kind, Name string
}

// Delete removes the instance's objects; the claims (the data) and the
// namespace stay unless o.Volumes.
func (c *Client) Delete(ctx context.Context, o DeleteOptions) ([]Deleted, error) {
	var out []Deleted
	bg := metav1.DeletePropagationBackground
	opts := metav1.DeleteOptions{PropagationPolicy: &bg}
	type target struct {
		kind, name string
		del        func() error
	}
	core := c.Clientset.CoreV1()
	ns := c.Namespace
	targets := []target{
		{"Ingress", Name, func() error { return c.Clientset.NetworkingV1().Ingresses(ns).Delete(ctx, Name, opts) }},
		{"Service", Name, func() error { return core.Services(ns).Delete(ctx, Name, opts) }},
		{"StatefulSet", Name, func() error { return c.Clientset.AppsV1().StatefulSets(ns).Delete(ctx, Name, opts) }},
		{"ConfigMap", Name, func() error { return core.ConfigMaps(ns).Delete(ctx, Name, opts) }},
		{"Secret", EnvSecret, func() error { return core.Secrets(ns).Delete(ctx, EnvSecret, opts) }},
		{"Secret", UsersSecret, func() error { return core.Secrets(ns).Delete(ctx, UsersSecret, opts) }},
	}
	if o.Volumes {
		claims, err := core.PersistentVolumeClaims(ns).List(ctx, metav1.ListOptions{
			LabelSelector: labels.SelectorFromSet(Labels()).String(),
		})
		if err != nil && !apierrors.IsNotFound(err) {
			return out, fmt.Errorf("list claims in %s: %w", ns, classify(err))
		}
		if claims != nil {
			for _, cl := range claims.Items {
				name := cl.Name
				targets = append(targets, target{"PersistentVolumeClaim", name, func() error {
					return core.PersistentVolumeClaims(ns).Delete(ctx, name, opts)
				}})
			}
		}
		targets = append(targets, target{"Namespace", ns, func() error { return core.Namespaces().Delete(ctx, ns, opts) }})
	}
	var errs []error
	for _, t := range targets {
		err := t.del()
		switch {
		case err == nil:
			out = append(out, Deleted{Kind: t.kind, Name: t.name})
		case apierrors.IsNotFound(err):
		default:
			errs = append(errs, fmt.Errorf("delete %s %s: %w", t.kind, t.name, classify(err)))
		}
	}
	return out, errors.Join(errs...)
}

// WaitReady waits until the StatefulSet's pod runs image and is ready.
func (c *Client) WaitReady(ctx context.Context, image string, poll time.Duration) (*PodStatus, error) {
	if poll <= 0 {
		poll = time.Second
	}
	t := time.NewTicker(poll)
	defer t.Stop()
	var last PodStatus
	for {
		pods, err := c.pods(ctx)
		if err == nil {
			for _, p := range pods {
				ps := podStatus(p)
				last = ps
				if ps.Ready && ps.Image == image && p.DeletionTimestamp == nil {
					return &ps, nil
				}
			}
		}
		select {
		case <-ctx.Done():
			if last.Name != "" {
				return &last, fmt.Errorf("pod %s not ready (phase %s %s): %w", last.Name, last.Phase, last.Reason, ctx.Err())
			}
			return nil, fmt.Errorf("no sandbox pod ready: %w", ctx.Err())
		case <-t.C:
		}
	}
}
