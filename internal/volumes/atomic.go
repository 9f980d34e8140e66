package volumes

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"
)

const (
	// dataLink is the symlink naming the directory that holds the current content.
	dataLink = "..data"
	// dataLinkTmp is the symlink built next to dataLink and renamed over it.
	dataLinkTmp = "..data_tmp"
	// defaultFileMode is used for a File whose Mode is zero.
	defaultFileMode os.FileMode = 0o644
)

// File is the content and permission bits of one file written by WriteAtomic.
// Only the permission bits (0777) of Mode are used; a zero Mode means 0644.
type File struct {
	Data []byte
	Mode os.FileMode
}

// WriteAtomic makes dir hold exactly files, switching all of them at once so
// that a reader never sees a mix of old and new content.
//
// Keys of files are slash-separated relative paths and may name files in
// subdirectories ("a/b/c"). A key must be clean, must not be absolute, must not
// contain a ".." element and must not start with ".."; names starting with
// ".." (such as "..data") are reserved for the writer's own bookkeeping. A key
// may not also be a parent directory of another key.
//
// There is no locking: callers must never run two WriteAtomic calls for the
// same dir at the same time. Readers may read dir at any time.
//
// The algorithm:
//  1. Validate every key.
//  2. If dir/..data points at a directory whose regular files have exactly the
//     wanted paths, bytes and permissions, the content is unchanged: steps 3
//     and 4 are skipped, and steps 5 and 6 find nothing to do unless an
//     earlier run was interrupted.
//  3. Write every file into a fresh hidden directory dir/..<timestamp>.<random>.
//  4. Create the symlink dir/..data_tmp -> ..<timestamp>.<random> and rename it
//     over dir/..data; the rename is the atomic switch.
//  5. For each top-level name, make sure dir/<name> is a symlink to
//     ..data/<name>, and remove symlinks into ..data whose name is gone.
//  6. Remove the previous hidden directory and any leftovers of interrupted
//     earlier runs (every other entry whose name starts with "..").
func WriteAtomic(dir string, files map[string]File) error {
	return WriteAtomicGroup(dir, files, -1)
}

// WriteAtomicGroup is WriteAtomic for a pod with an fsGroup: when gid is not
// -1, the files and directories belong to group gid, which may read them
// (files gain 0440, directories 0550 and the setgid bit), as the kubelet
// does for read-only volumes.
func WriteAtomicGroup(dir string, files map[string]File, gid int) error {
	if gid >= 0 {
		owned := make(map[string]File, len(files))
		for name, f := range files {
			owned[name] = File{Data: f.Data, Mode: filePerm(f.Mode) | 0o440}
		}
		files = owned
	}
	if err := validateFiles(files); err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("creating %s: %w", dir, err)
	}
	current := currentDataDir(dir)
	unchanged := current != "" && sameContent(filepath.Join(dir, current), files)
	if !unchanged {
		name, err := writeDataDir(dir, files, gid)
		if err != nil {
			return err
		}
		if err := swapDataLink(dir, name); err != nil {
			_ = os.RemoveAll(filepath.Join(dir, name))
			return err
		}
		current = name
	}
	if err := syncVisibleLinks(dir, files); err != nil {
		return err
	}
	return removeStale(dir, current)
}

// validateFiles checks every key of files against the rules of WriteAtomic.
func validateFiles(files map[string]File) error {
	for name := range files {
		if err := validateName(name); err != nil {
			return err
		}
		for p := path.Dir(name); p != "."; p = path.Dir(p) {
			if _, ok := files[p]; ok {
				return fmt.Errorf("invalid file path %q: %q is also a file", name, p)
			}
		}
	}
	return nil
}

// validateName checks a single relative path.
func validateName(name string) error {
	switch {
	case name == "":
		return errors.New("invalid file path: empty")
	case path.IsAbs(name) || filepath.IsAbs(name):
		return fmt.Errorf("invalid file path %q: must be relative", name)
	case strings.HasPrefix(name, ".."):
		return fmt.Errorf("invalid file path %q: must not start with '..'", name)
	}
	for _, part := range strings.Split(name, "/") {
		if part == ".." {
			return fmt.Errorf("invalid file path %q: must not contain '..'", name)
		}
	}
	if path.Clean(name) != name || strings.ContainsRune(name, 0) {
		return fmt.Errorf("invalid file path %q: must be a clean path", name)
	}
	return nil
}

// currentDataDir returns the name of the directory ..data points at, or "" if
// there is none or it does not look like one of ours.
func currentDataDir(dir string) string {
	target, err := os.Readlink(filepath.Join(dir, dataLink))
	if err != nil || strings.Contains(target, "/") || !strings.HasPrefix(target, "..") {
		return ""
	}
	return target
}

// sameContent reports whether dataDir holds exactly files. Any read problem
// counts as a difference, so that the content is written again.
func sameContent(dataDir string, files map[string]File) bool {
	seen := 0
	err := filepath.WalkDir(dataDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		rel, err := filepath.Rel(dataDir, p)
		if err != nil {
			return err
		}
		want, ok := files[filepath.ToSlash(rel)]
		if !ok || !d.Type().IsRegular() {
			return fs.ErrExist // any error stops the walk
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if info.Mode().Perm() != filePerm(want.Mode) {
			return fs.ErrExist
		}
		data, err := os.ReadFile(p)
		if err != nil || !bytes.Equal(data, want.Data) {
			return fs.ErrExist
		}
		seen++
		return nil
	})
	return err == nil && seen == len(files)
}

// filePerm returns the permission bits to give a file with mode m.
func filePerm(m os.FileMode) os.FileMode {
	if m.Perm() == 0 {
		return defaultFileMode
	}
	return m.Perm()
}

// writeDataDir writes files into a new hidden directory and returns its name.
func writeDataDir(dir string, files map[string]File, gid int) (string, error) {
	tsDir, err := os.MkdirTemp(dir, time.Now().UTC().Format("..2006_01_02_15_04_05.")+"*")
	if err != nil {
		return "", fmt.Errorf("creating data directory in %s: %w", dir, err)
	}
	if err := writeFiles(tsDir, files); err != nil {
		_ = os.RemoveAll(tsDir)
		return "", err
	}
	if gid >= 0 {
		if err := SetGroup(tsDir, gid, true, true); err != nil {
			_ = os.RemoveAll(tsDir)
			return "", err
		}
		// The volume's own directory is what the container sees first.
		if err := SetGroup(dir, gid, true, false); err != nil {
			_ = os.RemoveAll(tsDir)
			return "", err
		}
	}
	return filepath.Base(tsDir), nil
}

// writeFiles writes files below the new, empty directory root.
func writeFiles(root string, files map[string]File) error {
	if err := os.Chmod(root, 0o755); err != nil {
		return fmt.Errorf("chmod %s: %w", root, err)
	}
	for name, f := range files {
		p := filepath.Join(root, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return fmt.Errorf("creating directory for %s: %w", name, err)
		}
		perm := filePerm(f.Mode)
		if err := os.WriteFile(p, f.Data, perm); err != nil {
			return fmt.Errorf("writing %s: %w", name, err)
		}
		// WriteFile's mode is filtered by the umask; set it exactly.
		if err := os.Chmod(p, perm); err != nil {
			return fmt.Errorf("chmod %s: %w", name, err)
		}
	}
	return nil
}

// swapDataLink atomically points dir/..data at the directory name.
func swapDataLink(dir, name string) error {
	tmp := filepath.Join(dir, dataLinkTmp)
	if err := os.Remove(tmp); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("removing stale %s: %w", tmp, err)
	}
	if err := os.Symlink(name, tmp); err != nil {
		return fmt.Errorf("creating %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, dataLink)); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("switching %s to %s: %w", filepath.Join(dir, dataLink), name, err)
	}
	return nil
}

// topLevelNames returns the set of first path elements of the keys.
func topLevelNames(files map[string]File) map[string]bool {
	names := make(map[string]bool, len(files))
	for name := range files {
		first, _, _ := strings.Cut(name, "/")
		names[first] = true
	}
	return names
}

// syncVisibleLinks makes dir/<name> -> ..data/<name> for every top-level name
// and removes the links into ..data whose name is no longer present.
func syncVisibleLinks(dir string, files map[string]File) error {
	want := topLevelNames(files)
	for name := range want {
		if err := ensureLink(dir, name); err != nil {
			return err
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("reading %s: %w", dir, err)
	}
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, "..") || want[name] || e.Type()&fs.ModeSymlink == 0 {
			continue
		}
		target, err := os.Readlink(filepath.Join(dir, name))
		if err != nil || !strings.HasPrefix(target, dataLink+"/") {
			continue // not ours; leave it alone
		}
		if err := os.Remove(filepath.Join(dir, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("removing stale %s: %w", name, err)
		}
	}
	return nil
}

// ensureLink makes dir/name a symlink to ..data/name.
func ensureLink(dir, name string) error {
	link := filepath.Join(dir, name)
	want := dataLink + "/" + name
	info, err := os.Lstat(link)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if err := os.Symlink(want, link); err != nil {
			return fmt.Errorf("creating %s: %w", link, err)
		}
		return nil
	case err != nil:
		return fmt.Errorf("checking %s: %w", link, err)
	case info.Mode()&fs.ModeSymlink == 0:
		return fmt.Errorf("%s exists and is not a symlink", link)
	}
	if target, err := os.Readlink(link); err == nil && target == want {
		return nil
	}
	// Replace a wrong link atomically through a reserved temporary name.
	tmp := filepath.Join(dir, "..link_"+name)
	_ = os.Remove(tmp)
	if err := os.Symlink(want, tmp); err != nil {
		return fmt.Errorf("creating %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, link); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("replacing %s: %w", link, err)
	}
	return nil
}

// removeStale removes every reserved entry of dir except ..data and keep.
func removeStale(dir, keep string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("reading %s: %w", dir, err)
	}
	for _, e := range entries {
		name := e.Name()
		if !strings.HasPrefix(name, "..") || name == dataLink || name == keep {
			continue
		}
		if err := os.RemoveAll(filepath.Join(dir, name)); err != nil {
			return fmt.Errorf("removing stale %s: %w", name, err)
		}
	}
	return nil
}

// SetGroup gives root, and everything below it if recursive, to group gid, as the kubelet does with a pod's fsGroup: files gain group
// read (and write unless readOnly), directories also group execute and the
// setgid bit, so new files inherit the group. Symbolic links only change
// group.
func SetGroup(root string, gid int, readOnly, recursive bool) error {
	mask := os.FileMode(0o660)
	if readOnly {
		mask = 0o440
	}
	return filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := os.Lchown(p, -1, gid); err != nil {
			return fmt.Errorf("chgrp %s: %w", p, err)
		}
		if d.Type()&fs.ModeSymlink != 0 {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		mode := info.Mode().Perm() | mask
		if d.IsDir() {
			mode |= 0o110 | os.ModeSetgid
		}
		if err := os.Chmod(p, mode|info.Mode()&(os.ModeSetuid|os.ModeSticky)); err != nil {
			return fmt.Errorf("chmod %s: %w", p, err)
		}
		if d.IsDir() && !recursive {
			return fs.SkipDir
		}
		return nil
	})
}
