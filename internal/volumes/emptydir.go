package volumes

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/moby/sys/mountinfo"
	"golang.org/x/sys/unix"
	corev1 "k8s.io/api/core/v1"
)

// emptyDirMode is the permission of an emptyDir without an explicit mode, so
// that containers running as any user can write to it.
const emptyDirMode os.FileMode = 0o777

// prepareEmptyDir creates the emptyDir directory dir and, for medium Memory,
// mounts a tmpfs on it unless one is already mounted there; with an fsGroup
// (gid not -1) the directory belongs to that group.
func prepareEmptyDir(dir string, ed *corev1.EmptyDirVolumeSource, gid int) error {
	memory := false
	switch {
	case ed.Medium == corev1.StorageMediumDefault:
	case ed.Medium == corev1.StorageMediumMemory:
		memory = true
	case strings.HasPrefix(string(ed.Medium), string(corev1.StorageMediumHugePages)):
		return unsupported("emptyDir volumes with medium " + string(ed.Medium))
	default:
		return fmt.Errorf("unknown emptyDir medium %q", ed.Medium)
	}
	mode, err := emptyDirPerm(ed.Mode)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o750); err != nil {
		return fmt.Errorf("creating %s: %w", filepath.Dir(dir), err)
	}
	if err := os.Mkdir(dir, mode); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("creating %s: %w", dir, err)
	}
	if memory {
		if err := mountTmpfs(dir, ed, mode); err != nil {
			return err
		}
	}
	// Set the mode exactly: Mkdir's mode is filtered by the umask.
	if err := os.Chmod(dir, mode); err != nil {
		return fmt.Errorf("chmod %s: %w", dir, err)
	}
	if gid >= 0 {
		return SetGroup(dir, gid, false, false)
	}
	return nil
}

// emptyDirPerm converts the optional emptyDir mode (0000-01777) to a FileMode.
func emptyDirPerm(m *int32) (os.FileMode, error) {
	if m == nil {
		return emptyDirMode, nil
	}
	if *m < 0 || *m > 0o1777 {
		return 0, fmt.Errorf("invalid emptyDir mode %#o", *m)
	}
	mode := os.FileMode(*m & 0o777)
	if *m&0o1000 != 0 {
		mode |= os.ModeSticky
	}
	return mode, nil
}

// mountTmpfs mounts a tmpfs on dir, sized by the emptyDir's sizeLimit.
func mountTmpfs(dir string, ed *corev1.EmptyDirVolumeSource, mode os.FileMode) error {
	mounted, err := isMountPoint(dir)
	if err != nil {
		return err
	}
	if mounted {
		return nil
	}
	perm := uint32(mode.Perm())
	if mode&os.ModeSticky != 0 {
		perm |= 0o1000
	}
	opts := fmt.Sprintf("mode=%#o", perm)
	if ed.SizeLimit != nil && ed.SizeLimit.Sign() > 0 {
		opts += fmt.Sprintf(",size=%d", ed.SizeLimit.Value())
	}
	if err := unix.Mount("tmpfs", dir, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, opts); err != nil {
		return fmt.Errorf("mounting tmpfs on %s: %w", dir, err)
	}
	return nil
}

// isMountPoint reports whether dir is the root of a mount, by the kernel's
// mount table: a bind mount from the same filesystem (an image volume's
// view of a single layer) is on the same device as its parent, and would
// otherwise be taken for a plain directory, and removed through.
func isMountPoint(dir string) (bool, error) {
	mounted, err := mountinfo.Mounted(dir)
	if err != nil {
		return false, fmt.Errorf("is %s a mount point: %w", dir, err)
	}
	return mounted, nil
}

// unmountIfMounted lazily unmounts whatever is mounted on dir, including
// mounts stacked on each other.
func unmountIfMounted(dir string) error {
	for i := 0; i < 16; i++ {
		mounted, err := isMountPoint(dir)
		if err != nil || !mounted {
			return err
		}
		if err := unix.Unmount(dir, unix.MNT_DETACH); err != nil {
			return fmt.Errorf("unmounting %s: %w", dir, err)
		}
	}
	return fmt.Errorf("unmounting %s: still mounted", dir)
}
