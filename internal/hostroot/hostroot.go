// Package hostroot is the host's / as an agent in a container sees it: a
// mount of the host's / at some directory (the chart's /host), through which
// the agent reaches host paths that pods name (hostPath volumes).
package hostroot

import (
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"strings"

	"github.com/moby/sys/mountinfo"
	"golang.org/x/sys/unix"
)

// Path is where the agent finds the host's path p under root ("" means the
// agent runs on the host). An absolute symlink on the host resolves against
// the agent's / instead: a limit of seeing the host through a mount.
func Path(root, p string) string {
	if root == "" {
		return p
	}
	return filepath.Join(root, p)
}

// DetachCopies unmounts, in the agent's own mount namespace, the copies of
// the host's mounts below dir that the mount of the host's / took along when
// the agent's container started: a restarted agent finds its pods' pinned
// namespaces and volume mounts at root+dir, and again inside the root
// filesystems of its earlier containers, wherever those were on the host
// (their own mount of the host's /). The agent works on dir itself; the
// copies would only keep those files busy when it releases a pod (unlinking
// a mount point fails with EBUSY in the namespace that has it mounted). A
// copy is a mount whose path holds dir after some other prefix. Unmounting
// one touches nothing on the host: nothing propagates from the agent's view
// of the host's / back to the host.
func DetachCopies(root, dir string) (int, error) {
	if root == "" {
		return 0, nil
	}
	dir = filepath.Clean(dir)
	mounts, err := mountinfo.GetMounts(func(m *mountinfo.Info) (skip, stop bool) {
		return !isCopy(m.Mountpoint, dir), false
	})
	if err != nil {
		return 0, fmt.Errorf("read the agent's mounts: %w", err)
	}
	// Deepest first, so that no unmount finds a mount below it.
	sort.Slice(mounts, func(i, j int) bool { return len(mounts[i].Mountpoint) > len(mounts[j].Mountpoint) })
	var errs []error
	n := 0
	for _, m := range mounts {
		if err := unix.Unmount(m.Mountpoint, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
			errs = append(errs, fmt.Errorf("unmount the copy %s: %w", m.Mountpoint, err))
			continue
		}
		n++
	}
	return n, errors.Join(errs...)
}

// isCopy says whether mountpoint is dir, or below it, seen through some
// other directory: dir appears in it after a prefix, at a path boundary.
func isCopy(mountpoint, dir string) bool {
	for i := 1; i < len(mountpoint); i++ {
		j := strings.Index(mountpoint[i:], dir)
		if j < 0 {
			return false
		}
		i += j
		end := i + len(dir)
		if mountpoint[i-1] != '/' && dir[0] == '/' && (end == len(mountpoint) || mountpoint[end] == '/') {
			return true
		}
	}
	return false
}
