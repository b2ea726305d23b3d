package meta

import (
	"strings"
	"testing"
)

func TestParseMemoryLimit(t *testing.T) {
	for _, tc := range []struct {
		in    string
		bytes int64
		auto  bool
		bad   string
	}{
		{in: "auto", auto: true}, {in: "", auto: true}, {in: "none"}, {in: "0"}, {in: " NONE "},
		{in: "512m", bytes: 512 << 20}, {in: "4g", bytes: 4 << 30}, {in: "4GiB", bytes: 4 << 30}, {in: "1.5g", bytes: 3 << 29},
		{in: "100m", bad: "too little"}, {in: "lots", bad: "not a size"}, {in: "-1g", bad: "not a size"},
	} {
		n, auto, err := ParseMemoryLimit(tc.in)
		if tc.bad != "" {
			if err == nil || !strings.Contains(err.Error(), tc.bad) {
				t.Errorf("%q: error %v, want %q", tc.in, err, tc.bad)
			}
			continue
		}
		if err != nil || n != tc.bytes || auto != tc.auto {
			t.Errorf("%q: %d %v %v, want %d %v", tc.in, n, auto, err, tc.bytes, tc.auto)
		}
	}
}

func TestParseCPULimit(t *testing.T) {
	for _, tc := range []struct {
		in   string
		cpus float64
		auto bool
		bad  bool
	}{
		{in: "auto", auto: true}, {in: "none"}, {in: "0"}, {in: "1.5", cpus: 1.5}, {in: "2", cpus: 2},
		{in: "0.05", bad: true}, {in: "2000", bad: true}, {in: "NaN", bad: true}, {in: "inf", bad: true}, {in: "two", bad: true}, {in: "-1", bad: true},
	} {
		n, auto, err := ParseCPULimit(tc.in)
		if (err != nil) != tc.bad || n != tc.cpus || auto != tc.auto {
			t.Errorf("%q: %v %v %v", tc.in, n, auto, err)
		}
	}
}

func TestAutoLimits(t *testing.T) {
	if got := AutoMemoryLimit(24 << 30); got != 18<<30 {
		t.Errorf("auto memory of 24 GiB: %d", got)
	}
	if got := AutoMemoryLimit(100 << 20); got != MinMemoryLimit {
		t.Errorf("auto memory of 100 MiB: %d", got)
	}
	for n, want := range map[int]float64{1: 1, 2: 1.5, 8: 7.5} {
		if got := AutoCPULimit(n); got != want {
			t.Errorf("auto CPUs of %d: %v, want %v", n, got, want)
		}
	}
}

// TestIsolationKeys: on by default; every key settable and validated,
// and a bad value refused without changing the config.
func TestIsolationKeys(t *testing.T) {
	c := DefaultConfig()
	if !c.Seccomp || !c.AppArmor || !c.UserNS || c.UserNSBase != DefaultUserNSBase || c.PidsLimit != DefaultPidsLimit ||
		c.MemoryLimit != LimitAuto || c.CPULimit != LimitAuto {
		t.Fatalf("isolation defaults: %+v", c)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		key, value string
		ok         bool
	}{
		{"seccomp", "false", true}, {"apparmor", "off", true}, {"userns", "no", true},
		{"userns_base", "2000000000", true}, {"userns_base", "1000", false}, {"userns_base", "4294967000", false}, {"userns_base", "0", false},
		{"pids_limit", "0", true}, {"pids_limit", "512", true}, {"pids_limit", "10", false}, {"pids_limit", "-1", false},
		{"memory_limit", "2g", true}, {"memory_limit", "none", true}, {"memory_limit", "1k", false}, {"memory_limit", "x", false},
		{"cpu_limit", "0.5", true}, {"cpu_limit", "none", true}, {"cpu_limit", "0.01", false},
	} {
		c := DefaultConfig()
		k, err := LookupKey(tc.key)
		if err != nil {
			t.Fatal(err)
		}
		before := *c
		err = c.Set(k, tc.value)
		if (err == nil) != tc.ok {
			t.Errorf("set %s %s: %v", tc.key, tc.value, err)
		}
		if err != nil {
			if c.Get(k) != before.Get(k) {
				t.Errorf("set %s %s failed but changed the value to %s", tc.key, tc.value, c.Get(k))
			}
			if !strings.Contains(err.Error(), "occ config set "+tc.key) {
				t.Errorf("set %s %s: the error does not say how to fix it: %v", tc.key, tc.value, err)
			}
		}
	}
	// An older file without the keys loads with isolation on.
	old, err := ParseConfig([]byte(`{"version":1,"opencode_web_port":3000}`))
	if err != nil {
		t.Fatal(err)
	}
	if !old.Seccomp || !old.UserNS || old.PidsLimit != DefaultPidsLimit {
		t.Errorf("an older config loads with isolation off: %+v", old)
	}
}
