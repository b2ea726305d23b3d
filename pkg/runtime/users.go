package runtime

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"

	"github.com/GehirnInc/crypt"
	"github.com/GehirnInc/crypt/common"
	"github.com/GehirnInc/crypt/sha512_crypt"
	"github.com/containerd/errdefs"

	"github.com/opencode-cloud/occ/pkg/meta"
)

// The sandbox's login users persist as one JSON record per user in the users
// volume, mounted at UsersContainerDir. The image's entrypoint restores the
// Linux accounts from these records at every start (the records are the
// source of truth), so occ can add a user or change a password while the
// container is stopped or not created yet: it writes the record on the host
// and the next start applies it. In a running container,
// UsersApplyCommand(name) applies one record at once.
const (
	// UsersVolume is the name of the volume holding the user records.
	UsersVolume = "opencode-users"
	// UsersContainerDir is where the users volume is mounted in the sandbox.
	UsersContainerDir = "/var/lib/opencode-users"
	// UsersGroup is the group whose members may log in through the gateway.
	UsersGroup = "opencode-users"
	// usersTool is the image's helper that applies records to accounts.
	usersTool = "/usr/local/sbin/opencode-cloud-users"

	// passwordRounds is the sha512-crypt cost: about 20-40 ms per check on
	// one core. The gateway caches successful logins, so PAM pays it about
	// once per user every few seconds, and throttles failed ones.
	passwordRounds = 50000
	recordExt      = ".json"

	// MaxPasswordBytes is the longest password a login can use, in bytes
	// (UTF-8). sha512-crypt's cost grows with the length (a 100 KB password
	// took 47 s to hash), the gateway's PAM refuses passwords over 512
	// bytes and a Basic header over a few KiB: longer ones could be set but
	// never used to log in.
	MaxPasswordBytes = 256
)

// UserRecord is one persisted sandbox user, stored as
// {"username": "alice", "password_hash": "$6$...", "locked": false}
// (the format upstream opencode-cloud writes, so its volumes carry over).
type UserRecord struct {
	Username string `json:"username"`
	// PasswordHash is a crypt(3) hash that pam_unix accepts: occ writes
	// sha512-crypt ($6$); records from upstream hold yescrypt ($y$), which
	// the image's PAM accepts too.
	PasswordHash string `json:"password_hash"`
	// Locked accounts cannot log in (occ user disable).
	Locked bool `json:"locked"`
}

// UsersApplyCommand is the command that applies username's record (or
// removes the account when the record is gone) in a running sandbox, and
// forgets the gateway's cached logins so that the change counts at once.
func UsersApplyCommand(username string) []string {
	return []string{usersTool, "apply", username}
}

// UsersSyncCommand applies every record in a running sandbox.
func UsersSyncCommand() []string { return []string{usersTool, "sync"} }

// ValidateUsername refuses a name that is not a sandbox username, with a
// message that says which names are allowed.
func ValidateUsername(username string) error {
	if !meta.ValidUsername(username) {
		return errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf(
			"%q is not a valid username: use 1 to 32 lowercase letters, digits, '_' or '-', starting with a letter or '_'", username))
	}
	return nil
}

// ValidatePassword refuses passwords that cannot be used for a gateway
// login: empty ones, ones over MaxPasswordBytes, and ones with a NUL,
// carriage return or newline (a
// password read from a terminal or stdin has its line ending stripped
// before it gets here). Every other character, quotes, '$', ':', spaces and
// non-ASCII included, is kept as is: passwords never pass through a shell.
func ValidatePassword(password string) error {
	switch {
	case password == "":
		return errdefs.ErrInvalidArgument.WithMessage("the password is empty: type one, or use --generate")
	case len(password) > MaxPasswordBytes:
		return errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf(
			"the password is %d bytes long; the gateway accepts at most %d: choose a shorter one, or use --generate", len(password), MaxPasswordBytes))
	case strings.ContainsAny(password, "\x00\r\n"):
		return errdefs.ErrInvalidArgument.WithMessage("the password contains a line break or NUL character, which a login cannot send: choose another")
	}
	return nil
}

// HashPassword returns a sha512-crypt hash of password with a fresh random
// salt, in the form /etc/shadow and pam_unix use.
func HashPassword(password string) (string, error) {
	if err := ValidatePassword(password); err != nil {
		return "", err
	}
	c := sha512_crypt.New()
	salt := common512Salt()
	h, err := c.Generate([]byte(password), salt)
	if err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	return h, nil
}

// common512Salt is a random 16-character sha512-crypt salt with
// passwordRounds rounds ("$6$rounds=N$salt").
func common512Salt() []byte {
	s := common.Salt{
		MagicPrefix:   []byte(sha512_crypt.MagicPrefix),
		SaltLenMin:    sha512_crypt.SaltLenMin,
		SaltLenMax:    sha512_crypt.SaltLenMax,
		RoundsDefault: sha512_crypt.RoundsDefault,
		RoundsMin:     sha512_crypt.RoundsMin,
		RoundsMax:     sha512_crypt.RoundsMax,
	}
	return s.GenerateWRounds(sha512_crypt.SaltLenMax, passwordRounds)
}

// VerifyPassword reports whether password matches a sha512-crypt hash.
// Other schemes (yescrypt from upstream's records, ...) are reported as not
// matching: only PAM in the sandbox checks those.
func VerifyPassword(hash, password string) bool {
	if !crypt.IsHashSupported(hash) {
		return false
	}
	return crypt.NewFromHash(hash).Verify(hash, []byte(password)) == nil
}

// NewUserRecord validates username and password and returns an unlocked
// record holding the password's hash.
func NewUserRecord(username, password string) (UserRecord, error) {
	if err := ValidateUsername(username); err != nil {
		return UserRecord{}, err
	}
	h, err := HashPassword(password)
	if err != nil {
		return UserRecord{}, err
	}
	return UserRecord{Username: username, PasswordHash: h}, nil
}

// Validate checks a record as the entrypoint will: a valid username and a
// crypt hash that can go into /etc/shadow.
func (r UserRecord) Validate() error {
	if err := ValidateUsername(r.Username); err != nil {
		return err
	}
	h := r.PasswordHash
	if !strings.HasPrefix(h, "$") || strings.ContainsAny(h, ": \t\r\n\x00") {
		return errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("user %s has no usable password hash: set a password with 'occ user passwd %s'", r.Username, r.Username))
	}
	return nil
}

// UserRecordPath is the file of username's record in dir.
func UserRecordPath(dir, username string) (string, error) {
	if err := ValidateUsername(username); err != nil {
		return "", err
	}
	return filepath.Join(dir, username+recordExt), nil
}

// WriteUserRecord stores r in dir (the users volume on the host) atomically,
// readable by root only (0600, directory 0700).
func WriteUserRecord(dir string, r UserRecord) error {
	if err := r.Validate(); err != nil {
		return err
	}
	path, err := UserRecordPath(dir, r.Username)
	if err != nil {
		return err
	}
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("encode user record %s: %w", r.Username, err)
	}
	if err := meta.WriteFileAtomic(path, append(data, '\n'), 0o600); err != nil {
		return fmt.Errorf("save user %s: %w", r.Username, err)
	}
	// The record takes its directory's owner: with a user namespace the
	// sandbox's root is a host id of its range, and a file the host's root
	// owns is nobody's in there (capabilities do not reach it).
	if st, err := os.Stat(dir); err == nil {
		if sys, ok := st.Sys().(*syscall.Stat_t); ok && (sys.Uid != 0 || sys.Gid != 0) {
			if err := os.Lchown(path, int(sys.Uid), int(sys.Gid)); err != nil {
				return fmt.Errorf("save user %s: give the record its directory's owner: %w", r.Username, err)
			}
		}
	}
	// WriteFileAtomic creates a missing directory 0700; tighten one that
	// already existed with wider permissions (it holds password hashes).
	if st, err := os.Stat(dir); err == nil && st.Mode().Perm()&0o077 != 0 {
		if err := os.Chmod(dir, 0o700); err != nil {
			return fmt.Errorf("restrict %s to its owner: %w", dir, err)
		}
	}
	return nil
}

// ReadUserRecord loads username's record from dir. A missing record is
// errdefs.ErrNotFound.
func ReadUserRecord(dir, username string) (UserRecord, error) {
	path, err := UserRecordPath(dir, username)
	if err != nil {
		return UserRecord{}, err
	}
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return UserRecord{}, errdefs.ErrNotFound.WithMessage(fmt.Sprintf("user %s does not exist (see 'occ user list')", username))
	}
	if err != nil {
		return UserRecord{}, fmt.Errorf("read user %s: %w", username, err)
	}
	return parseUserRecord(path, username, data)
}

func parseUserRecord(path, username string, data []byte) (UserRecord, error) {
	var r UserRecord
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&r); err != nil {
		return UserRecord{}, errdefs.ErrDataLoss.WithMessage(fmt.Sprintf("user record %s is not valid JSON (%v): set the password again with 'occ user passwd %s', or remove it with 'occ user remove %s'", path, err, username, username))
	}
	if r.Username != username {
		return UserRecord{}, errdefs.ErrDataLoss.WithMessage(fmt.Sprintf("user record %s names user %q: remove it with 'occ user remove %s'", path, r.Username, username))
	}
	if err := r.Validate(); err != nil {
		return UserRecord{}, errdefs.ErrDataLoss.WithMessage(fmt.Sprintf("user record %s: %v", path, err))
	}
	return r, nil
}

// ListUserRecords returns the records in dir, sorted by username. A missing
// dir has no records. Records that cannot be read are left out and reported
// together in the error, so a caller can still show the good ones.
func ListUserRecords(dir string) ([]UserRecord, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list users in %s: %w", dir, err)
	}
	var (
		out  []UserRecord
		errs []error
	)
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), recordExt)
		if !ok || strings.HasPrefix(e.Name(), ".") || !e.Type().IsRegular() {
			continue // temporary files of atomic writes, upstream's .initial-otp.* state, ...
		}
		if !meta.ValidUsername(name) {
			errs = append(errs, errdefs.ErrDataLoss.WithMessage(fmt.Sprintf("%s is not named after a valid username: the sandbox ignores it", filepath.Join(dir, e.Name()))))
			continue
		}
		r, err := ReadUserRecord(dir, name)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Username < out[j].Username })
	return out, errors.Join(errs...)
}

// RemoveUserRecord deletes username's record. A missing record is
// errdefs.ErrNotFound.
func RemoveUserRecord(dir, username string) error {
	path, err := UserRecordPath(dir, username)
	if err != nil {
		return err
	}
	err = os.Remove(path)
	if errors.Is(err, fs.ErrNotExist) {
		return errdefs.ErrNotFound.WithMessage(fmt.Sprintf("user %s does not exist (see 'occ user list')", username))
	}
	if err != nil {
		return fmt.Errorf("remove user %s: %w", username, err)
	}
	return nil
}

// SetUserPassword replaces username's password hash, keeping its lock state,
// or creates the record if there is none.
func SetUserPassword(dir, username, password string) (UserRecord, error) {
	r, err := ReadUserRecord(dir, username)
	if err != nil && !errdefs.IsNotFound(err) {
		return UserRecord{}, err
	}
	nr, err := NewUserRecord(username, password)
	if err != nil {
		return UserRecord{}, err
	}
	nr.Locked = r.Locked
	return nr, WriteUserRecord(dir, nr)
}

// SetUserLocked disables (locked) or enables username's login.
func SetUserLocked(dir, username string, locked bool) (UserRecord, error) {
	r, err := ReadUserRecord(dir, username)
	if err != nil {
		return UserRecord{}, err
	}
	r.Locked = locked
	return r, WriteUserRecord(dir, r)
}

// Account is a login account as the sandbox's /etc/passwd has it.
type Account struct {
	UID   uint32
	Home  string
	Shell string
}

// Accounts reads the running sandbox's /etc/passwd: every account by
// name. It fails with errdefs.ErrFailedPrecondition when the sandbox does
// not run.
func (s *Sandbox) Accounts(ctx context.Context) (map[string]Account, error) {
	var out, errOut bytes.Buffer
	code, err := s.Exec(ctx, ExecOptions{Args: []string{"cat", "/etc/passwd"}, Stdout: &out, Stderr: &errOut})
	if err != nil {
		return nil, fmt.Errorf("read the sandbox's /etc/passwd: %w", err)
	}
	if code != 0 {
		return nil, errdefs.ErrUnknown.WithMessage(fmt.Sprintf("read the sandbox's /etc/passwd: cat exited %d: %s", code, strings.TrimSpace(errOut.String())))
	}
	return ParsePasswd(out.String()), nil
}

// ParsePasswd parses passwd(5) lines; malformed lines are skipped.
func ParsePasswd(text string) map[string]Account {
	accounts := map[string]Account{}
	for _, line := range strings.Split(text, "\n") {
		f := strings.Split(strings.TrimRight(line, "\r"), ":")
		if len(f) != 7 || f[0] == "" {
			continue
		}
		uid, err := strconv.ParseUint(f[2], 10, 32)
		if err != nil {
			continue
		}
		accounts[f[0]] = Account{UID: uint32(uid), Home: f[5], Shell: f[6]}
	}
	return accounts
}
