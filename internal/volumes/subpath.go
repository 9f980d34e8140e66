package volumes

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// errOutside is why a subPath that leads out of its volume is refused.
var errOutside = errors.New("leads outside the volume")

// maxSymlinks bounds the symlinks followed in one subPath, as the kernel's
// own limit does for a path lookup.
const maxSymlinks = 40

// openSubPath opens sub below the volume at root and returns an O_PATH
// descriptor of it. Every element is opened with openat(O_NOFOLLOW) from the
// descriptor of its parent, so a container that swaps a directory for a
// symlink while this runs gets the symlink opened, not followed. Symlinks are
// read through their own descriptor and followed by this walk, which keeps
// ".." and absolute targets within the volume. With create, missing
// directories are made (0755) with mkdirat in the parent already opened.
func openSubPath(root, sub string, create bool) (int, error) {
	// The volume's own path is the agent's or the pod author's choice
	// (hostPath), not the container's: its symlinks are followed.
	realRoot, err := filepath.EvalSymlinks(root)
	if err != nil {
		return -1, fmt.Errorf("resolving the volume: %w", err)
	}
	rootFD, err := unix.Open(realRoot, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("opening the volume: %w", err)
	}
	// stack holds the descriptors from the root down to the current directory.
	stack := []int{rootFD}
	defer func() {
		for _, fd := range stack {
			unix.Close(fd)
		}
	}()
	rest := strings.Split(sub, "/")
	done := []string{} // the elements opened, for messages
	links := 0
	for len(rest) > 0 {
		part := rest[0]
		rest = rest[1:]
		switch part {
		case "", ".":
			continue
		case "..":
			if len(stack) == 1 {
				return -1, errOutside
			}
			unix.Close(stack[len(stack)-1])
			stack, done = stack[:len(stack)-1], done[:len(done)-1]
			continue
		}
		parent := stack[len(stack)-1]
		fd, err := unix.Openat(parent, part, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if errors.Is(err, unix.ENOENT) && create {
			if err := unix.Mkdirat(parent, part, 0o755); err != nil && !errors.Is(err, unix.EEXIST) {
				return -1, fmt.Errorf("creating %q: %w", strings.Join(append(done, part), "/"), err)
			}
			fd, err = unix.Openat(parent, part, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		}
		if errors.Is(err, unix.ENOENT) {
			return -1, errors.New("does not exist in the volume")
		}
		if err != nil {
			return -1, fmt.Errorf("opening %q: %w", strings.Join(append(done, part), "/"), err)
		}
		var st unix.Stat_t
		if err := unix.Fstat(fd, &st); err != nil {
			unix.Close(fd)
			return -1, err
		}
		if st.Mode&unix.S_IFMT != unix.S_IFLNK {
			stack, done = append(stack, fd), append(done, part)
			continue
		}
		// Read the link through the descriptor just opened: it is the
		// link that was checked, whatever the name points to now.
		target, err := readlinkFD(fd)
		unix.Close(fd)
		if err != nil {
			return -1, err
		}
		if links++; links > maxSymlinks {
			return -1, fmt.Errorf("%q: too many levels of symbolic links", sub)
		}
		if filepath.IsAbs(target) {
			// An absolute target counts from the host's root: it must
			// name a place in the volume, then is walked from the root.
			rel, err := filepath.Rel(realRoot, filepath.Clean(target))
			if err != nil || rel == ".." || strings.HasPrefix(rel, "../") {
				return -1, errOutside
			}
			for len(stack) > 1 {
				unix.Close(stack[len(stack)-1])
				stack = stack[:len(stack)-1]
			}
			done = done[:0]
			target = rel
		}
		rest = append(strings.Split(target, "/"), rest...)
	}
	fd := stack[len(stack)-1]
	stack = stack[:len(stack)-1]
	return fd, nil
}

// readlinkFD reads the symlink opened (O_PATH|O_NOFOLLOW) as fd.
func readlinkFD(fd int) (string, error) {
	buf := make([]byte, unix.PathMax)
	n, err := unix.Readlinkat(fd, "", buf)
	if err != nil {
		return "", fmt.Errorf("reading a symlink: %w", err)
	}
	return string(buf[:n]), nil
}

// bindSubPath bind-mounts what fd is onto target, a path of the agent that
// no container can change, through /proc/self/fd: the mount is of the
// object openSubPath checked, not of a name a container could repoint.
// Whatever was mounted on target before (an earlier attempt) is unmounted.
func bindSubPath(fd int, target string) error {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(target), 0o750); err != nil {
		return err
	}
	if err := unmountAll(target); err != nil {
		return err
	}
	// Not RemoveAll: once unmounted the target is empty, and if it is not,
	// something is still mounted there that must not be deleted through.
	if err := os.Remove(target); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("replacing subPath mount point: %w", err)
	}
	if st.Mode&unix.S_IFMT == unix.S_IFDIR {
		if err := os.Mkdir(target, 0o750); err != nil {
			return err
		}
	} else {
		f, err := os.OpenFile(target, os.O_CREATE|os.O_EXCL|os.O_RDONLY, 0o640)
		if err != nil {
			return err
		}
		f.Close()
	}
	src := "/proc/self/fd/" + strconv.Itoa(fd)
	if err := unix.Mount(src, target, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("bind-mounting the subPath: %w", err)
	}
	return nil
}

// unmountAll lazily unmounts every mount stacked on p, without following a
// symlink at p.
func unmountAll(p string) error {
	for i := 0; i < 16; i++ {
		err := unix.Unmount(p, unix.MNT_DETACH|unix.UMOUNT_NOFOLLOW)
		switch {
		case errors.Is(err, unix.EINVAL), errors.Is(err, unix.ENOENT):
			return nil // not (or no longer) a mount point
		case err != nil:
			return fmt.Errorf("unmounting %s: %w", p, err)
		}
	}
	return fmt.Errorf("unmounting %s: still mounted", p)
}

// cleanupSubPaths unmounts and removes the subPath mount points below dir
// (<volume>/<container>/<index>). It never lists a mount point's content, and
// removes nothing recursively, so a mount that stays cannot be deleted
// through: then the error says so and dir is left.
func cleanupSubPaths(dir string) error {
	vols, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, v := range vols {
		vdir := filepath.Join(dir, v.Name())
		if v.IsDir() {
			ctrs, err := os.ReadDir(vdir)
			if err != nil {
				return err
			}
			for _, c := range ctrs {
				cdir := filepath.Join(vdir, c.Name())
				if c.IsDir() {
					targets, err := os.ReadDir(cdir)
					if err != nil {
						return err
					}
					for _, t := range targets {
						p := filepath.Join(cdir, t.Name())
						if err := unmountAll(p); err != nil {
							return err
						}
						if err := os.Remove(p); err != nil {
							return fmt.Errorf("removing subPath mount point: %w", err)
						}
					}
				}
				if err := os.Remove(cdir); err != nil {
					return err
				}
			}
		}
		if err := os.Remove(vdir); err != nil {
			return err
		}
	}
	return os.Remove(dir)
}
