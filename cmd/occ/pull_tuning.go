package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/containerd/errdefs"

	"github.com/opencode-cloud/occ/pkg/registry"
)

// pullTuningEnv shortens the registry client's retry waits and stall
// timeout, for tests that inject faults (the chaos suite) and must not
// wait out the defaults (3 retries from 1s, Retry-After up to 60s, stall
// timeout 30s). It is not meant for users; unset means the defaults:
//
//	OCC_PULL_TUNING="retries=3,backoff=20ms,max-wait=2s,stall=1s"
const pullTuningEnv = "OCC_PULL_TUNING"

// pullTuning reads pullTuningEnv. A malformed value is an error rather
// than silently the defaults, so a test cannot think it tuned the pull.
func pullTuning() ([]registry.Option, error) {
	v := strings.TrimSpace(os.Getenv(pullTuningEnv))
	if v == "" {
		return nil, nil
	}
	bad := func(why string) error {
		return errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf(
			"$%s=%q: %s (want e.g. retries=3,backoff=20ms,max-wait=2s,stall=1s; unset it for the defaults)", pullTuningEnv, v, why))
	}
	retries, backoff := 3, time.Second
	var opts []registry.Option
	for _, kv := range strings.Split(v, ",") {
		k, val, ok := strings.Cut(strings.TrimSpace(kv), "=")
		if !ok {
			return nil, bad(fmt.Sprintf("%q is not KEY=VALUE", kv))
		}
		if k == "retries" {
			n, err := strconv.Atoi(val)
			if err != nil || n < 0 {
				return nil, bad("retries must be a whole number")
			}
			retries = n
			continue
		}
		d, err := time.ParseDuration(val)
		if err != nil || d <= 0 {
			return nil, bad(fmt.Sprintf("%s must be a positive duration such as 50ms", k))
		}
		switch k {
		case "backoff":
			backoff = d
		case "max-wait":
			opts = append(opts, registry.WithMaxRetryWait(d))
		case "stall":
			opts = append(opts, registry.WithStallTimeout(d))
		default:
			return nil, bad(fmt.Sprintf("unknown key %q", k))
		}
	}
	return append(opts, registry.WithRetry(retries, backoff)), nil
}
