// escapeprobe runs, inside the sandbox, what an attacker who controls the
// agent (or the sandbox's root) would try, and says for each whether the
// kernel refused it. The e2e escape test (e2e/escape_test.go) copies it
// into the sandbox through a read-only mount and runs it as opencoder and
// as root.
//
//	escapeprobe CHECK [ARG]
//
// It prints one line, "contained: …" (exit 0) or "ESCAPED: …" (exit 1);
// exit 2 is a probe that could not run.
package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

func main() {
	if len(os.Args) < 2 {
		fail("usage: escapeprobe CHECK [ARG]")
	}
	arg := ""
	if len(os.Args) > 2 {
		arg = os.Args[2]
	}
	checks := map[string]func(string){
		"mount": probeMount, "unshare": probeUnshare, "keyctl": probeKeyctl, "ptrace": probePtrace,
		"mknod": probeMknod, "open_by_handle_at": probeOpenByHandle, "proc": probeProc, "rofs": probeReadOnly,
		"forkbomb": probeForkBomb, "alloc": probeAlloc, "alloc-child": allocChild,
	}
	f, ok := checks[os.Args[1]]
	if !ok {
		fail("unknown check " + os.Args[1])
	}
	f(arg)
}

func contained(format string, a ...any) {
	fmt.Printf("contained: "+format+"\n", a...)
	os.Exit(0)
}

func escaped(format string, a ...any) {
	fmt.Printf("ESCAPED: "+format+"\n", a...)
	os.Exit(1)
}

func fail(msg string) {
	fmt.Println("error: " + msg)
	os.Exit(2)
}

// refused: err is a refusal by the kernel (permission, read-only, a
// seccomp filter's EPERM/ENOSYS).
func refused(err error) bool {
	return errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES) || errors.Is(err, unix.EROFS) || errors.Is(err, unix.ENOSYS)
}

func probeMount(string) {
	dir, err := os.MkdirTemp("", "m")
	if err != nil {
		fail(err.Error())
	}
	defer os.Remove(dir)
	var errs []string
	for _, m := range []struct {
		src, fstype string
		flags       uintptr
	}{{"tmpfs", "tmpfs", 0}, {"proc", "proc", 0}, {"/", "", unix.MS_BIND}, {"cgroup", "cgroup", 0}} {
		err := unix.Mount(m.src, dir, m.fstype, m.flags, "")
		if err == nil {
			_ = unix.Unmount(dir, unix.MNT_DETACH)
			escaped("mount %s (%s) on %s succeeded", m.src, m.fstype, dir)
		}
		if !refused(err) {
			fail(fmt.Sprintf("mount %s: unexpected %v", m.src, err))
		}
		errs = append(errs, m.fstype+"/"+m.src+": "+err.Error())
	}
	contained("mount refused (%s)", strings.Join(errs, "; "))
}

func probeUnshare(string) {
	var errs []string
	for name, flag := range map[string]uintptr{"user": unix.CLONE_NEWUSER, "mount": unix.CLONE_NEWNS, "net": unix.CLONE_NEWNET,
		"pid": unix.CLONE_NEWPID, "cgroup": unix.CLONE_NEWCGROUP, "user+mount": unix.CLONE_NEWUSER | unix.CLONE_NEWNS} {
		// A child made with the new namespaces (clone, as unshare(1) and
		// container tools do; unshare(2) of a user namespace needs a
		// single-threaded caller, which a Go program is not).
		cmd := exec.Command("/bin/true")
		cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: flag}
		err := cmd.Run()
		if err == nil {
			escaped("a process in new %s namespaces started", name)
		}
		if !refused(err) {
			fail(fmt.Sprintf("clone(%s): unexpected %v", name, err))
		}
		errs = append(errs, name+": "+shortErr(err))
	}
	// The unshare tool as well (util-linux), the way a script would.
	if out, err := exec.Command("unshare", "-Urm", "true").CombinedOutput(); err == nil {
		escaped("unshare -Urm true succeeded: %s", out)
	}
	contained("new namespaces refused (%s)", strings.Join(errs, "; "))
}

// onLockedThread runs f on a thread that is thrown away afterwards.
func onLockedThread(f func() error) error {
	ch := make(chan error)
	go func() {
		lockOSThread()
		ch <- f()
		// The thread is not unlocked: Go ends it with the goroutine.
	}()
	return <-ch
}

func probeKeyctl(string) {
	var errs []string
	_, err := unix.KeyctlJoinSessionKeyring("occ-probe")
	if err == nil {
		escaped("keyctl(JOIN_SESSION_KEYRING) succeeded")
	}
	errs = append(errs, "join: "+err.Error())
	_, err = unix.AddKey("user", "occ-probe", []byte("x"), unix.KEY_SPEC_PROCESS_KEYRING)
	if err == nil {
		escaped("add_key succeeded")
	}
	errs = append(errs, "add_key: "+err.Error())
	_, err = unix.RequestKey("user", "occ-probe", "", unix.KEY_SPEC_PROCESS_KEYRING)
	if err == nil {
		escaped("request_key succeeded")
	}
	errs = append(errs, "request_key: "+err.Error())
	for _, e := range errs {
		if !strings.Contains(e, "operation not permitted") && !strings.Contains(e, "function not implemented") {
			fail("keyctl: unexpected " + e)
		}
	}
	contained("keyctl refused (%s)", strings.Join(errs, "; "))
}

// procUID is the real uid of pid as the sandbox sees it.
func procUID(pid int) (int, string) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return -1, ""
	}
	uid, name := -1, ""
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) > 1 && f[0] == "Uid:" {
			uid, _ = strconv.Atoi(f[1])
		}
		if len(f) > 1 && f[0] == "Name:" {
			name = f[1]
		}
	}
	return uid, name
}

// probePtrace attaches to every process of another user in the sandbox
// (root's processes from opencoder; opencode and nginx's workers from
// root).
func probePtrace(string) {
	me := os.Getuid()
	entries, _ := os.ReadDir("/proc")
	var tried []string
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		uid, name := procUID(pid)
		if uid < 0 || uid == me {
			continue
		}
		err = onLockedThread(func() error { return unix.PtraceAttach(pid) })
		if err == nil {
			_ = unix.PtraceDetach(pid)
			escaped("ptrace attach to pid %d (%s, uid %d) succeeded", pid, name, uid)
		}
		if !refused(err) && !errors.Is(err, unix.ESRCH) {
			fail(fmt.Sprintf("ptrace %d: unexpected %v", pid, err))
		}
		// And reading its memory, which needs the same permission.
		if f, err := os.Open(fmt.Sprintf("/proc/%d/mem", pid)); err == nil {
			buf := make([]byte, 1)
			if _, err := f.ReadAt(buf, 0x400000); err == nil {
				escaped("read /proc/%d/mem (%s)", pid, name)
			}
			f.Close()
		}
		tried = append(tried, fmt.Sprintf("%d %s (uid %d): %v", pid, name, uid, err))
	}
	if len(tried) == 0 {
		fail("no process of another user to attach to")
	}
	contained("ptrace refused for %d processes of other users (%s)", len(tried), strings.Join(tried, "; "))
}

func probeMknod(string) {
	dir, err := os.MkdirTemp("", "n")
	if err != nil {
		fail(err.Error())
	}
	defer os.RemoveAll(dir)
	// The host's first disk, and /dev/mem.
	for name, dev := range map[string]int{"sda": int(unix.Mkdev(8, 0)), "mem": int(unix.Mkdev(1, 1))} {
		p := filepath.Join(dir, name)
		err := unix.Mknod(p, unix.S_IFBLK|0o600, dev)
		if name == "mem" {
			err = unix.Mknod(p, unix.S_IFCHR|0o600, dev)
		}
		if err == nil {
			// Made: it must still be unusable (the device cgroup denies it).
			if f, oerr := os.Open(p); oerr == nil {
				f.Close()
				escaped("mknod and open of %s succeeded", name)
			}
			continue
		}
		if !refused(err) {
			fail(fmt.Sprintf("mknod %s: unexpected %v", name, err))
		}
	}
	contained("device nodes refused")
}

// probeOpenByHandle is the "shocker" escape: open_by_handle_at reaches any
// inode of a mounted file system, the host's included, with
// CAP_DAC_READ_SEARCH.
func probeOpenByHandle(string) {
	// A handle of inode 2 (the root of ext4) on the file system of /etc/hostname.
	handle := make([]byte, 8+8)
	*(*uint32)(unsafe.Pointer(&handle[0])) = 8 // handle_bytes
	*(*int32)(unsafe.Pointer(&handle[4])) = 1  // handle_type FILEID_INO32_GEN
	*(*uint32)(unsafe.Pointer(&handle[8])) = 2 // inode
	f, err := os.Open("/etc/hostname")
	if err != nil {
		fail(err.Error())
	}
	defer f.Close()
	fd, _, errno := unix.Syscall6(unix.SYS_OPEN_BY_HANDLE_AT, f.Fd(), uintptr(unsafe.Pointer(&handle[0])), unix.O_RDONLY, 0, 0, 0)
	if errno == 0 {
		unix.Close(int(fd))
		escaped("open_by_handle_at succeeded")
	}
	if !refused(errno) {
		// ESTALE/EINVAL would mean the call ran and only the handle was wrong.
		escaped("open_by_handle_at ran (%v): not refused", errno)
	}
	contained("open_by_handle_at refused (%v)", errno)
}

// probeProc tries to reach the host through /proc and /sys: host
// processes, the kernel's memory, its knobs.
func probeProc(string) {
	// No host process is visible: the sandbox has its own pid namespace.
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		if pid, err := strconv.Atoi(e.Name()); err == nil {
			if cmd, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid)); err == nil {
				c := strings.ReplaceAll(string(cmd), "\x00", " ")
				if strings.Contains(c, "containerd") || strings.Contains(c, "buildkitd") || strings.Contains(c, "sshd") {
					escaped("host process visible: %d %s", pid, c)
				}
			}
		}
	}
	// /proc/1/root is the sandbox's own root, not the host's.
	if data, err := os.ReadFile("/proc/1/root/etc/hostname"); err == nil {
		host, _ := os.Hostname()
		if strings.TrimSpace(string(data)) != host {
			escaped("/proc/1/root is not the sandbox's root: hostname %q", data)
		}
	}
	// Kernel memory and knobs.
	for _, p := range []string{"/proc/kcore", "/proc/keys", "/proc/timer_list", "/proc/sched_debug"} {
		if data, err := readSome(p); err == nil && len(data) > 0 {
			escaped("read %s (%d bytes)", p, len(data))
		}
	}
	var writes []string
	for _, p := range []string{"/proc/sysrq-trigger", "/proc/sys/kernel/core_pattern", "/proc/sys/vm/drop_caches",
		"/sys/kernel/uevent_helper", "/sys/fs/cgroup/pids/pids.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes", "/proc/1/attr/current"} {
		err := os.WriteFile(p, []byte("0\n"), 0)
		if err == nil {
			escaped("wrote %s", p)
		}
		if !refused(err) && !errors.Is(err, os.ErrNotExist) && !errors.Is(err, unix.EINVAL) {
			fail(fmt.Sprintf("write %s: unexpected %v", p, err))
		}
		writes = append(writes, p+": "+shortErr(err))
	}
	contained("no host process visible, kernel memory masked, writes refused (%s)", strings.Join(writes, "; "))
}

func shortErr(err error) string {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}

func readSome(p string) ([]byte, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	buf := make([]byte, 4096)
	n, err := f.Read(buf)
	if n > 0 {
		return buf[:n], nil
	}
	return nil, err
}

// probeReadOnly writes into the read-only mount dir, then tries to remount it writable.
func probeReadOnly(dir string) {
	p := filepath.Join(dir, "escapeprobe-was-here")
	err := os.WriteFile(p, []byte("x"), 0o644)
	if err == nil {
		os.Remove(p)
		escaped("wrote %s", p)
	}
	if !refused(err) {
		fail(fmt.Sprintf("write %s: unexpected %v", p, err))
	}
	rerr := unix.Mount("", dir, "", unix.MS_REMOUNT|unix.MS_BIND, "")
	if rerr == nil {
		escaped("remounted %s read-write", dir)
	}
	contained("write refused (%s), remount refused (%v)", shortErr(err), rerr)
}

// probeForkBomb starts processes until the kernel refuses one (the pids
// limit), up to max, then ends them all. Contained: refused before max.
// (syscall.ForkExec: no pidfd per child, so the file limit is not what
// stops it.)
func probeForkBomb(maxArg string) {
	max, err := strconv.Atoi(maxArg)
	if err != nil || max <= 0 {
		fail("forkbomb needs a maximum")
	}
	var pids []int
	reap := func() {
		for _, p := range pids {
			_ = syscall.Kill(p, syscall.SIGKILL)
		}
		for _, p := range pids {
			var ws syscall.WaitStatus
			_, _ = syscall.Wait4(p, &ws, 0, nil)
		}
		pids = nil
	}
	start := time.Now()
	for len(pids) < max {
		pid, err := syscall.ForkExec("/bin/sleep", []string{"sleep", "60"}, &syscall.ProcAttr{})
		if err != nil {
			n := len(pids)
			reap()
			if errors.Is(err, unix.EAGAIN) {
				contained("fork refused after %d processes (%s, %v)", n, time.Since(start).Round(time.Millisecond), err)
			}
			fail(fmt.Sprintf("after %d processes: unexpected %v", n, err))
		}
		pids = append(pids, pid)
	}
	reap()
	escaped("started %d processes, none refused", max)
}

// probeAlloc runs a child that allocates MiB of memory and touches every
// page. Contained: the kernel kills the child (the memory limit's OOM
// killer) and this process lives on.
func probeAlloc(mibArg string) {
	self, err := os.Executable()
	if err != nil {
		fail(err.Error())
	}
	cmd := exec.Command(self, "alloc-child", mibArg)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	start := time.Now()
	err = cmd.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL {
			contained("the allocating process was killed (SIGKILL, the OOM killer) after %s", time.Since(start).Round(time.Millisecond))
		}
	}
	escaped("allocating %s MiB: %v (not killed)", mibArg, err)
}

func allocChild(mibArg string) {
	mib, err := strconv.Atoi(mibArg)
	if err != nil {
		fail(err.Error())
	}
	var chunks [][]byte
	for i := 0; i < mib; i++ {
		b := make([]byte, 1<<20)
		for j := 0; j < len(b); j += 4096 {
			b[j] = 1
		}
		chunks = append(chunks, b)
	}
	fmt.Fprintf(os.Stderr, "allocated %d MiB (%d chunks)\n", mib, len(chunks))
}
