package meta

import "testing"

func TestBuildCAFilesKey(t *testing.T) {
	tests := []struct {
		value   string
		want    string
		wantErr bool
	}{
		{value: "", want: ""},
		{value: "/etc/ssl/proxy.pem", want: "/etc/ssl/proxy.pem"},
		{value: "/a.pem, /b.crt", want: "/a.pem,/b.crt"},
		{value: "proxy.pem", wantErr: true},
		{value: "/a.pem,../b.pem", wantErr: true},
	}
	for _, tc := range tests {
		c := DefaultConfig()
		k, err := LookupKey("build-ca-files")
		if err != nil {
			t.Fatal(err)
		}
		err = c.Set(k, tc.value)
		if (err != nil) != tc.wantErr {
			t.Fatalf("set %q: %v", tc.value, err)
		}
		if err == nil && c.Get(k) != tc.want {
			t.Errorf("set %q: get = %q, want %q", tc.value, c.Get(k), tc.want)
		}
	}
	if d := DefaultConfig(); d.BuildCAFiles == nil || len(d.BuildCAFiles) != 0 || d.Validate() != nil {
		t.Fatalf("default build_ca_files = %#v", d.BuildCAFiles)
	}
}
