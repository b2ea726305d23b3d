package ops

import (
	"strings"
	"testing"
)

func TestPullTuning(t *testing.T) {
	for _, tc := range []struct {
		v     string
		n     int
		errOn string
	}{
		{v: "", n: 0},
		{v: "retries=2,backoff=20ms", n: 1},
		{v: "retries=3, backoff=20ms, max-wait=2s, stall=1s", n: 3},
		{v: "retries=x", errOn: "whole number"},
		{v: "backoff=soon", errOn: "positive duration"},
		{v: "stall=0s", errOn: "positive duration"},
		{v: "speed=1s", errOn: "unknown key"},
		{v: "retries", errOn: "not KEY=VALUE"},
	} {
		t.Setenv(pullTuningEnv, tc.v)
		opts, err := pullTuning()
		if tc.errOn != "" {
			if err == nil || !strings.Contains(err.Error(), tc.errOn) || !strings.Contains(err.Error(), pullTuningEnv) {
				t.Errorf("%q: error %v, want one naming %s and %q", tc.v, err, pullTuningEnv, tc.errOn)
			}
			continue
		}
		if err != nil || len(opts) != tc.n {
			t.Errorf("%q: %d options, %v; want %d", tc.v, len(opts), err, tc.n)
		}
	}
}
