// Package hostroot is the host's / as an agent in a container sees it: a
// mount of the host's / at some directory (the chart's /host), through which
// the agent reaches host paths that pods name (hostPath volumes).
package hostroot

import (
	"errors"
	"fmt"
	"path/filepath"
	"sort"

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

// DetachCopies unmounts, in the agent's own mount namespace, what is mounted
// under root+dir: the copies of the host's mounts below the agent's own
// directory that the mount of the host's / took along when the agent's
// container started (a restarted agent finds its pods' pinned namespaces
// and volume mounts there). The agent works on dir itself; the copies would
// only keep those files busy when it releases a pod (unlinking a mount point
// fails with EBUSY in the namespace that has it mounted). Unmounting a copy
// touches nothing on the host: the host's / is never mounted back into it.
func DetachCopies(root, dir string) (int, error) {
	if root == "" {
		return 0, nil
	}
	under := Path(root, dir)
	mounts, err := mountinfo.GetMounts(mountinfo.PrefixFilter(under))
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
