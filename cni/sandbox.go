package cni

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"

	"golang.org/x/sys/unix"
)

// Namespaces are the paths of a pod's pinned network, IPC and UTS namespaces.
// Containers join them by path in their OCI spec, so no process has to hold
// them open: the bind mounts do.
type Namespaces struct {
	Net, IPC, UTS string
}

// namespaceKinds maps each pinned namespace to its clone flag and the name
// of its file in /proc/<pid>/task/<tid>/ns.
var namespaceKinds = []struct {
	file string
	flag int
}{
	{"net", unix.CLONE_NEWNET},
	{"ipc", unix.CLONE_NEWIPC},
	{"uts", unix.CLONE_NEWUTS},
}

// NamespacesIn returns the paths where the namespaces of a pod pinned in dir live.
func NamespacesIn(dir string) Namespaces {
	return Namespaces{Net: filepath.Join(dir, "net"), IPC: filepath.Join(dir, "ipc"), UTS: filepath.Join(dir, "uts")}
}

// PinNamespaces creates new network, IPC and UTS namespaces whose hostname is
// hostname, and pins them by bind mounts in dir. Pinning an existing set again
// returns it unchanged, so a retry after a crash is safe.
func PinNamespaces(dir, hostname string) (Namespaces, error) {
	ns := NamespacesIn(dir)
	if Pinned(ns.Net) && Pinned(ns.IPC) && Pinned(ns.UTS) {
		return ns, nil
	}
	// A partial set is from a crash in the middle of pinning: start over.
	if err := UnpinNamespaces(dir); err != nil {
		return Namespaces{}, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return Namespaces{}, err
	}
	errc := make(chan error, 1)
	go func() {
		// The thread that unshares is left locked, so the Go runtime ends it
		// with the goroutine and no other goroutine ever runs in the new
		// namespaces.
		runtime.LockOSThread()
		errc <- unshareAndPin(dir, hostname)
	}()
	if err := <-errc; err != nil {
		_ = UnpinNamespaces(dir)
		return Namespaces{}, err
	}
	return ns, nil
}

func unshareAndPin(dir, hostname string) error {
	flags := 0
	for _, k := range namespaceKinds {
		flags |= k.flag
	}
	if err := unix.Unshare(flags); err != nil {
		return fmt.Errorf("unshare pod namespaces: %w", err)
	}
	if err := unix.Sethostname([]byte(hostname)); err != nil {
		return fmt.Errorf("set pod hostname %q: %w", hostname, err)
	}
	if err := loopbackUp(); err != nil {
		return fmt.Errorf("bring up lo in the pod's network namespace: %w", err)
	}
	self := fmt.Sprintf("/proc/%d/task/%d/ns", os.Getpid(), unix.Gettid())
	for _, k := range namespaceKinds {
		target := filepath.Join(dir, k.file)
		f, err := os.OpenFile(target, os.O_CREATE|os.O_EXCL|os.O_RDONLY, 0o444)
		if err != nil {
			return fmt.Errorf("create %s: %w", target, err)
		}
		f.Close()
		if err := unix.Mount(filepath.Join(self, k.file), target, "", unix.MS_BIND, ""); err != nil {
			return fmt.Errorf("pin %s namespace at %s: %w", k.file, target, err)
		}
	}
	return nil
}

// UnpinNamespaces unmounts and removes the pinned namespaces in dir. A
// namespace ends when nothing else holds it. Unpinning what is not pinned is
// not an error.
func UnpinNamespaces(dir string) error {
	var errs []error
	for _, k := range namespaceKinds {
		p := filepath.Join(dir, k.file)
		if err := unix.Unmount(p, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
			errs = append(errs, fmt.Errorf("unmount %s: %w", p, err))
			continue
		}
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	if err := os.Remove(dir); err != nil && !errors.Is(err, fs.ErrNotExist) {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// Pinned reports whether path is a namespace file (nsfs), that is, whether a
// namespace is bind-mounted there.
func Pinned(path string) bool {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return false
	}
	return st.Type == unix.NSFS_MAGIC
}

// CheckOwnNetwork fails unless path is a pinned network namespace (as ip netns
// add makes under /run/netns) that is the calling process's own.
func CheckOwnNetwork(path string) error {
	if !Pinned(path) {
		return fmt.Errorf("%s is no pinned namespace (a file of nsfs, as ip netns add makes under /run/netns)", path)
	}
	// This thread's, not the process's: the main thread may be the one that
	// unshared a pod's namespaces, parked in them by the Go runtime, which
	// cannot end the main thread as it ends the others (see PinNamespaces).
	var own, pinned unix.Stat_t
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if err := unix.Stat("/proc/thread-self/ns/net", &own); err != nil {
		return err
	}
	if err := unix.Stat(path, &pinned); err != nil {
		return err
	}
	if own.Dev != pinned.Dev || own.Ino != pinned.Ino {
		return fmt.Errorf("%s is not the agent's own network namespace: run the agent in it (ip netns exec), since it probes hostNetwork pods and forwards their ports from its own", path)
	}
	return nil
}

// loopbackUp sets "lo" up in the calling thread's network namespace, which
// is all the loopback CNI plugin would do, without running a plugin.
func loopbackUp() error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return err
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return err
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	return unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr)
}
