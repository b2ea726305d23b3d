package kube

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/containerd/errdefs"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/remotecommand"
	"k8s.io/client-go/util/retry"
	"k8s.io/streaming/pkg/httpstream"

	"github.com/opencode-cloud/occ/pkg/runtime"
)

// Users reads the records from the users Secret (none when it does not
// exist yet).
func (c *Client) Users(ctx context.Context) ([]runtime.UserRecord, error) {
	sec, err := c.Clientset.CoreV1().Secrets(c.Namespace).Get(ctx, UsersSecret, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read secret %s/%s: %w", c.Namespace, UsersSecret, classify(err))
	}
	return UsersFromData(sec.Data)
}

// UserChange edits the records: it gets the current one (ok false when
// there is none) and returns the new one, or nil to remove it.
type UserChange func(current runtime.UserRecord, ok bool) (*runtime.UserRecord, error)

// ChangeUser edits username's record in the users Secret (a read-modify-
// write retried on conflict, so two changes at once both land), then makes
// a running pod apply it without a restart: ApplyUser. It returns the new
// record (nil when removed) and whether a running pod applied it.
func (c *Client) ChangeUser(ctx context.Context, username string, change UserChange, wait time.Duration) (*runtime.UserRecord, bool, error) {
	if err := runtime.ValidateUsername(username); err != nil {
		return nil, false, err
	}
	secrets := c.Clientset.CoreV1().Secrets(c.Namespace)
	key := username + ".json"
	var result *runtime.UserRecord
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		sec, err := secrets.Get(ctx, UsersSecret, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return errdefs.ErrNotFound.WithMessage(fmt.Sprintf(
				"no users secret in namespace %s: deploy the sandbox first (occ kube apply)", c.Namespace))
		}
		if err != nil {
			return fmt.Errorf("read secret %s/%s: %w", c.Namespace, UsersSecret, classify(err))
		}
		var cur runtime.UserRecord
		raw, ok := sec.Data[key]
		if ok {
			if err := json.Unmarshal(raw, &cur); err != nil {
				return fmt.Errorf("secret %s, key %s: %w (fix it with occ user passwd %s --kube)", UsersSecret, key, err, username)
			}
		}
		next, err := change(cur, ok)
		if err != nil {
			return err
		}
		if sec.Data == nil {
			sec.Data = map[string][]byte{}
		}
		if next == nil {
			delete(sec.Data, key)
		} else {
			data, err := UsersData([]runtime.UserRecord{*next})
			if err != nil {
				return err
			}
			sec.Data[key] = data[key]
		}
		if _, err := secrets.Update(ctx, sec, metav1.UpdateOptions{FieldManager: FieldManager}); err != nil {
			if apierrors.IsConflict(err) {
				return err // retried
			}
			return fmt.Errorf("update secret %s/%s: %w", c.Namespace, UsersSecret, classify(err))
		}
		result = next
		return nil
	})
	if err != nil {
		return nil, false, err
	}
	var want []byte
	if result != nil {
		d, _ := UsersData([]runtime.UserRecord{*result})
		want = d[key]
	}
	applied, err := c.ApplyUser(ctx, username, want, wait)
	return result, applied, err
}

// ApplyUser makes the running pod apply username's record without a
// restart: the kubelet refreshes a Secret's files in place, but only at
// its next sync of the pod (up to a minute or more), so occ annotates the
// pod (which syncs it at once), waits until the mounted file holds want
// (nil: until it is gone), then runs the image's users tool, which applies
// the record and forgets the gateway's cached logins. With no running pod
// there is nothing to do: the entrypoint applies every record at start.
func (c *Client) ApplyUser(ctx context.Context, username string, want []byte, wait time.Duration) (bool, error) {
	pod, err := c.RunningPod(ctx)
	if errdefs.IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	sum := sha256.Sum256(want)
	patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": map[string]string{
		AnnotationUsers: username + "@" + hex.EncodeToString(sum[:8]) + "@" + time.Now().UTC().Format(time.RFC3339Nano),
	}}})
	if _, err := c.Clientset.CoreV1().Pods(c.Namespace).Patch(ctx, pod.Name, types.MergePatchType, patch, metav1.PatchOptions{FieldManager: FieldManager}); err != nil {
		return false, fmt.Errorf("annotate pod %s: %w", pod.Name, classify(err))
	}
	if wait <= 0 {
		wait = 2 * time.Minute
	}
	wctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	file := UsersMountDir + "/" + username + ".json"
	for {
		// cat's exit status says whether the file is there; its output what it holds.
		out, _, err := c.Exec(wctx, pod.Name, []string{"cat", file})
		switch {
		case want == nil && err != nil && !isTransport(err):
		case want != nil && err == nil && bytes.Equal(out, want):
		default:
			select {
			case <-wctx.Done():
				return false, fmt.Errorf("the pod's copy of the users secret did not change within %s (the kubelet refreshes it; the next start applies it in any case): %w", wait, wctx.Err())
			case <-time.After(500 * time.Millisecond):
			}
			continue
		}
		break
	}
	if out, errOut, err := c.Exec(ctx, pod.Name, runtime.UsersApplyCommand(username)); err != nil {
		return false, fmt.Errorf("apply user %s in pod %s: %w: %s", username, pod.Name, err, strings.TrimSpace(string(out)+string(errOut)))
	}
	return true, nil
}

// isTransport says whether an exec failed to run at all (not a command
// that exited non-zero).
func isTransport(err error) bool {
	var exit interface{ ExitStatus() int }
	return !errors.As(err, &exit)
}

// Exec runs cmd in the sandbox container of pod through the API server
// (WebSocket, falling back to SPDY for older servers) and returns its
// output. A non-zero exit is an error with ExitStatus().
func (c *Client) Exec(ctx context.Context, pod string, cmd []string) (stdout, stderr []byte, err error) {
	req := c.Clientset.CoreV1().RESTClient().Post().Resource("pods").Namespace(c.Namespace).Name(pod).
		SubResource("exec").VersionedParams(&corev1.PodExecOptions{
		Container: ContainerName, Command: cmd, Stdout: true, Stderr: true,
	}, scheme.ParameterCodec)
	spdy, err := remotecommand.NewSPDYExecutor(c.REST, "POST", req.URL())
	if err != nil {
		return nil, nil, fmt.Errorf("exec: %w", err)
	}
	ws, err := remotecommand.NewWebSocketExecutor(c.REST, "GET", req.URL().String())
	if err != nil {
		return nil, nil, fmt.Errorf("exec: %w", err)
	}
	ex, err := remotecommand.NewFallbackExecutor(ws, spdy, func(err error) bool {
		return httpstream.IsUpgradeFailure(err) || httpstream.IsHTTPSProxyError(err)
	})
	if err != nil {
		return nil, nil, fmt.Errorf("exec: %w", err)
	}
	var o, e bytes.Buffer
	err = ex.StreamWithContext(ctx, remotecommand.StreamOptions{Stdout: &o, Stderr: &e})
	return o.Bytes(), e.Bytes(), err
}

// sortedUsers returns records sorted by name (stable output).
func sortedUsers(in []runtime.UserRecord) []runtime.UserRecord {
	out := append([]runtime.UserRecord(nil), in...)
	sort.Slice(out, func(i, j int) bool { return out[i].Username < out[j].Username })
	return out
}
