package runtime

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/GehirnInc/crypt/sha512_crypt"
	"github.com/containerd/errdefs"
)

func TestSHA512CryptKnownVectors(t *testing.T) {
	// From the SHA-crypt specification (Drepper), as glibc's crypt(3) computes them.
	for _, tc := range []struct{ salt, key, want string }{
		{"$6$saltstring", "Hello world!", "$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1"},
		{"$6$rounds=10000$saltstringsaltstring", "Hello world!", "$6$rounds=10000$saltstringsaltst$OW1/O6BYHV6BcXZu8QVeXbDWra3Oeqh0sbHbbMCVNSnCM/UrjmM0Dp8vOuZeHBy/YTBmSK6H9qs/y3RnOaw5v."},
	} {
		got, err := sha512_crypt.New().Generate([]byte(tc.key), []byte(tc.salt))
		if err != nil || got != tc.want {
			t.Errorf("crypt(%q, %q) = %q, %v; want %q", tc.key, tc.salt, got, err, tc.want)
		}
		if !VerifyPassword(tc.want, tc.key) {
			t.Errorf("VerifyPassword(%q) = false", tc.want)
		}
	}
}

func TestHashPasswordRoundTrip(t *testing.T) {
	for _, pw := range []string{
		"s3cret",
		`it's "quoted" $HOME $(id) ` + "`id`" + ` ; rm -rf / && echo | cat > x \ end`,
		"colon:inside:password",
		" leading and trailing spaces ",
		"ünïcødé пароль 密码",
		"*?[glob]{a,b}~!#%^&",
		strings.Repeat("long", 64),
	} {
		h, err := HashPassword(pw)
		if err != nil {
			t.Fatalf("HashPassword(%q): %v", pw, err)
		}
		if !strings.HasPrefix(h, "$6$rounds=50000$") {
			t.Errorf("hash %q is not sha512-crypt with 50000 rounds", h)
		}
		if strings.ContainsAny(h, ": \n") {
			t.Errorf("hash %q has a character /etc/shadow cannot hold", h)
		}
		if !VerifyPassword(h, pw) {
			t.Errorf("VerifyPassword(hash of %q) = false", pw)
		}
		if VerifyPassword(h, pw+"x") || VerifyPassword(h, strings.TrimSpace(pw)+"!") {
			t.Errorf("a different password matches the hash of %q", pw)
		}
	}
	a, _ := HashPassword("same")
	b, _ := HashPassword("same")
	if a == b {
		t.Errorf("two hashes of one password are equal (%q): the salt is not random", a)
	}
}

func TestPasswordRefused(t *testing.T) {
	for _, pw := range []string{"", "two\nlines", "cr\r", "nul\x00byte", strings.Repeat("a", MaxPasswordBytes+1), strings.Repeat("ü", MaxPasswordBytes/2+1), strings.Repeat("x", 100<<10)} {
		if _, err := HashPassword(pw); !errdefs.IsInvalidArgument(err) {
			t.Errorf("HashPassword(%q) error = %v, want invalid argument", pw, err)
		}
	}
	for _, pw := range []string{strings.Repeat("a", MaxPasswordBytes), strings.Repeat("ü", MaxPasswordBytes/2)} {
		if err := ValidatePassword(pw); err != nil {
			t.Errorf("ValidatePassword(%d bytes) = %v, want accepted", len(pw), err)
		}
	}
	if VerifyPassword("$y$j9T$abc$def", "x") || VerifyPassword("", "") || VerifyPassword("!", "") {
		t.Error("VerifyPassword accepted a hash it cannot check")
	}
}

func TestUsernameValidation(t *testing.T) {
	for name, ok := range map[string]bool{
		"alice": true, "_svc": true, "a": true, "bob-2": true, "x_y": true,
		strings.Repeat("a", 32): true, strings.Repeat("a", 33): false,
		"": false, "Alice": false, "1abc": false, "-abc": false, "a b": false, "a;rm": false,
		"../etc": false, "a/b": false, "al.ice": false, "root\n": false,
	} {
		err := ValidateUsername(name)
		if (err == nil) != ok {
			t.Errorf("ValidateUsername(%q) = %v, want ok=%v", name, err, ok)
		}
		if err != nil && !errdefs.IsInvalidArgument(err) {
			t.Errorf("ValidateUsername(%q) error is not invalid argument: %v", name, err)
		}
		if _, err := NewUserRecord(name, "pw"); (err == nil) != ok {
			t.Errorf("NewUserRecord(%q) = %v, want ok=%v", name, err, ok)
		}
	}
}

func TestRecordFileLifecycle(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "volumes", UsersVolume)
	recs, err := ListUserRecords(dir)
	if err != nil || len(recs) != 0 {
		t.Fatalf("ListUserRecords(missing dir) = %v, %v", recs, err)
	}
	if _, err := ReadUserRecord(dir, "alice"); !errdefs.IsNotFound(err) {
		t.Fatalf("ReadUserRecord(missing) error = %v, want not found", err)
	}

	pw := `p@ss "w0rd" $x:y`
	for _, name := range []string{"carol", "alice", "bob"} {
		r, err := NewUserRecord(name, pw+name)
		if err != nil {
			t.Fatal(err)
		}
		if err := WriteUserRecord(dir, r); err != nil {
			t.Fatal(err)
		}
	}
	st, err := os.Stat(dir)
	if err != nil || st.Mode().Perm() != 0o700 {
		t.Fatalf("users dir mode = %v, %v; want 0700", st.Mode(), err)
	}
	st, err = os.Stat(filepath.Join(dir, "alice.json"))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("record mode = %v, %v; want 0600", st.Mode(), err)
	}

	// The file is the upstream format, readable by the image's jq.
	data, _ := os.ReadFile(filepath.Join(dir, "alice.json"))
	var raw map[string]any
	if err := json.Unmarshal(data, &raw); err != nil {
		t.Fatal(err)
	}
	if len(raw) != 3 || raw["username"] != "alice" || raw["locked"] != false || !strings.HasPrefix(raw["password_hash"].(string), "$6$") {
		t.Fatalf("record = %s", data)
	}

	// Upstream's other state files and atomic-write leftovers are not users.
	os.WriteFile(filepath.Join(dir, ".initial-otp.json"), []byte("{}"), 0o600)
	os.WriteFile(filepath.Join(dir, ".alice.json.tmp-123"), []byte("{"), 0o600)
	os.Mkdir(filepath.Join(dir, "sub.json"), 0o700)
	recs, err = ListUserRecords(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, r := range recs {
		names = append(names, r.Username)
		if !VerifyPassword(r.PasswordHash, pw+r.Username) {
			t.Errorf("%s's stored hash does not match its password", r.Username)
		}
	}
	if strings.Join(names, ",") != "alice,bob,carol" {
		t.Fatalf("ListUserRecords = %v, want alice,bob,carol", names)
	}

	// Disable, then change the password: the lock stays.
	if r, err := SetUserLocked(dir, "bob", true); err != nil || !r.Locked {
		t.Fatalf("SetUserLocked = %+v, %v", r, err)
	}
	if r, err := SetUserPassword(dir, "bob", "new"); err != nil || !r.Locked || !VerifyPassword(r.PasswordHash, "new") {
		t.Fatalf("SetUserPassword = %+v, %v", r, err)
	}
	if r, err := ReadUserRecord(dir, "bob"); err != nil || !r.Locked || !VerifyPassword(r.PasswordHash, "new") {
		t.Fatalf("ReadUserRecord(bob) = %+v, %v", r, err)
	}
	if _, err := SetUserLocked(dir, "nobody", true); !errdefs.IsNotFound(err) {
		t.Fatalf("SetUserLocked(missing) error = %v", err)
	}
	// SetUserPassword creates a missing record (occ user passwd on a fresh volume).
	if r, err := SetUserPassword(dir, "dave", "pw"); err != nil || r.Locked {
		t.Fatalf("SetUserPassword(new) = %+v, %v", r, err)
	}

	if err := RemoveUserRecord(dir, "carol"); err != nil {
		t.Fatal(err)
	}
	if err := RemoveUserRecord(dir, "carol"); !errdefs.IsNotFound(err) {
		t.Fatalf("second RemoveUserRecord error = %v, want not found", err)
	}
	if err := RemoveUserRecord(dir, "../x"); !errdefs.IsInvalidArgument(err) {
		t.Fatalf("RemoveUserRecord(../x) error = %v, want invalid argument", err)
	}
	recs, _ = ListUserRecords(dir)
	if len(recs) != 3 {
		t.Fatalf("after remove: %d records, want 3 (alice, bob, dave)", len(recs))
	}
}

func TestWriteTightensExistingDir(t *testing.T) {
	dir := t.TempDir()
	os.Chmod(dir, 0o755)
	r, _ := NewUserRecord("alice", "pw")
	if err := WriteUserRecord(dir, r); err != nil {
		t.Fatal(err)
	}
	if st, _ := os.Stat(dir); st.Mode().Perm() != 0o700 {
		t.Fatalf("dir mode = %v, want 0700", st.Mode().Perm())
	}
}

func TestBadRecords(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	good, _ := NewUserRecord("good", "pw")
	if err := WriteUserRecord(dir, good); err != nil {
		t.Fatal(err)
	}
	// Upstream's yescrypt records are kept as they are.
	write("legacy.json", `{"username":"legacy","password_hash":"$y$j9T$F5Jx5fExrKuPp53xLKQ..1$X3DX6M94c7o.9agCG9G317fhZg9SqC.5i5rd.RhAtQ7","locked":true}`)
	write("broken.json", `{"username":`)
	write("mismatch.json", `{"username":"root","password_hash":"$6$x$y","locked":false}`)
	write("nohash.json", `{"username":"nohash","password_hash":"","locked":false}`)
	write("Bad.json", `{}`)

	recs, err := ListUserRecords(dir)
	if len(recs) != 2 || recs[0].Username != "good" || recs[1].Username != "legacy" || !recs[1].Locked {
		t.Fatalf("ListUserRecords = %+v, want good and legacy", recs)
	}
	if err == nil {
		t.Fatal("ListUserRecords reported no problem with the bad records")
	}
	for _, want := range []string{"broken.json", "mismatch.json", "nohash", "Bad.json"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %s", err, want)
		}
	}
	if _, err := ReadUserRecord(dir, "broken"); !errdefs.IsDataLoss(err) {
		t.Errorf("ReadUserRecord(broken) error = %v, want data loss", err)
	}
	if err := WriteUserRecord(dir, UserRecord{Username: "x", PasswordHash: "plain"}); !errdefs.IsInvalidArgument(err) {
		t.Errorf("WriteUserRecord(plain-text hash) error = %v, want invalid argument", err)
	}
	if err := WriteUserRecord(dir, UserRecord{Username: "x", PasswordHash: "$6$a:b$c"}); !errdefs.IsInvalidArgument(err) {
		t.Errorf("WriteUserRecord(hash with ':') error = %v, want invalid argument", err)
	}
}

func TestUsersCommands(t *testing.T) {
	if got := strings.Join(UsersApplyCommand("alice"), " "); got != "/usr/local/sbin/opencode-cloud-users apply alice" {
		t.Errorf("UsersApplyCommand = %q", got)
	}
	if got := strings.Join(UsersSyncCommand(), " "); got != "/usr/local/sbin/opencode-cloud-users sync" {
		t.Errorf("UsersSyncCommand = %q", got)
	}
}

func BenchmarkHashPassword(b *testing.B) {
	for b.Loop() {
		if _, err := HashPassword("benchmark password"); err != nil {
			b.Fatal(err)
		}
	}
}

func TestParsePasswd(t *testing.T) {
	got := ParsePasswd("root:x:0:0:root:/root:/bin/bash\n" +
		"alice:x:1001:1001:opencode-cloud user:/nonexistent:/usr/sbin/nologin\r\n" +
		"broken line\n" +
		"bad:x:notanumber:1:x:/h:/s\n" +
		":x:5:5::/h:/s\n")
	want := map[string]Account{
		"root":  {UID: 0, Home: "/root", Shell: "/bin/bash"},
		"alice": {UID: 1001, Home: "/nonexistent", Shell: "/usr/sbin/nologin"},
	}
	if len(got) != len(want) {
		t.Fatalf("got %v", got)
	}
	for n, a := range want {
		if got[n] != a {
			t.Errorf("%s: got %+v, want %+v", n, got[n], a)
		}
	}
}
