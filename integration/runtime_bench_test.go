//go:build integration

package integration

import (
	"testing"
	"time"

	"github.com/opencode-cloud/occ/pkg/runtime"
)

// BenchmarkRuntimeStartReadyStop measures one start of an existing
// container in its own network namespace (port check, netns, CNI ADD, task
// start), the readiness wait (3 TCP connects, 500 ms apart) and a graceful
// stop (SIGTERM, task delete, CNI DEL, netns removal).
func BenchmarkRuntimeStartReadyStop(b *testing.B) {
	f := newRTFixture(b, nil)
	if err := f.sb.Create(f.ctx); err != nil {
		b.Fatal(err)
	}
	var start, ready, stop time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		if err := f.sb.Start(f.ctx); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		if err := f.sb.WaitReady(f.ctx, runtime.ReadyOptions{Interval: 50 * time.Millisecond}); err != nil {
			b.Fatal(err)
		}
		t2 := time.Now()
		if _, err := f.sb.Stop(f.ctx, 10*time.Second); err != nil {
			b.Fatal(err)
		}
		start, ready, stop = start+t1.Sub(t0), ready+time.Since(t1)-time.Since(t2), stop+time.Since(t2)
	}
	n := float64(b.N)
	b.ReportMetric(start.Seconds()*1000/n, "start-ms/op")
	b.ReportMetric(ready.Seconds()*1000/n, "ready-ms/op")
	b.ReportMetric(stop.Seconds()*1000/n, "stop-ms/op")
}
