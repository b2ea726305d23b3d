package kube

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestPodStatus: what kube status --json reports of a pod, started_at in
// UTC whatever zone client-go decoded it in.
func TestPodStatus(t *testing.T) {
	zone := time.FixedZone("UTC+5", 5*3600)
	started := time.Date(2026, 12, 3, 17, 0, 0, 0, zone)
	pod := func(st corev1.ContainerState) corev1.Pod {
		return corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "sandbox-0"},
			Spec:       corev1.PodSpec{NodeName: "n1", Containers: []corev1.Container{{Name: ContainerName, Image: "img"}}},
			Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIP: "10.0.0.9", ContainerStatuses: []corev1.ContainerStatus{
				{Name: "other", RestartCount: 9},
				{Name: ContainerName, Ready: true, RestartCount: 2, ImageID: "id", State: st},
			}},
		}
	}
	for _, tc := range []struct {
		name string
		pod  corev1.Pod
		want string
	}{
		{"running, local time", pod(corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.NewTime(started)}}),
			`{"name":"sandbox-0","phase":"Running","ready":true,"restarts":2,"node":"n1","ip":"10.0.0.9","image":"img","image_id":"id","started_at":"2026-12-03T12:00:00Z"}`},
		{"waiting", pod(corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ImagePullBackOff", Message: "no such image"}}),
			`{"name":"sandbox-0","phase":"Running","ready":true,"restarts":2,"node":"n1","ip":"10.0.0.9","image":"img","image_id":"id","reason":"ImagePullBackOff: no such image"}`},
		{"terminated", pod(corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Reason: "Error", ExitCode: 3}}),
			`{"name":"sandbox-0","phase":"Running","ready":true,"restarts":2,"node":"n1","ip":"10.0.0.9","image":"img","image_id":"id","reason":"Error (exit 3)"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ps := podStatus(tc.pod)
			if !ps.StartedAt.IsZero() && ps.StartedAt.Location() != time.UTC {
				t.Errorf("started_at in %s, want UTC", ps.StartedAt.Location())
			}
			b, err := json.Marshal(ps)
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.TrimSpace(string(b)); got != tc.want {
				t.Errorf("\n got %s\nwant %s", got, tc.want)
			}
		})
	}
}
