// Package poddir names the files the agent keeps on the host for each pod.
// It is the one place that knows the layout; everything else asks it:
//
//	<root>/<pod uid>/                         the pod's directory (Dir)
//	<root>/<pod uid>/ns/{net,ipc,uts}         pinned namespaces (package cni)
//	<root>/<pod uid>/etc/{hosts,resolv.conf,hostname}
//	<root>/<pod uid>/volumes/<volume>/        pod volumes (package volumes)
//	<root>/<pod uid>/volume-subpaths/<volume>/<container>/<index>
//	                                          bind mounts of subPaths (package volumes)
//	<root>/<pod uid>/logs/<container>/<attempt>.log
//	<root>/<pod uid>/termination/<container id>
//	<root>/<pod uid>/io/<container id>/       stdin/stdout FIFOs of `stdin: true` containers
//
// Removing the pod's directory removes all of it, once the namespaces are
// unpinned and the volumes unmounted.
package poddir

import (
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Root is the directory that holds one directory per pod.
type Root string

// Pod is the directory of the pod with the given UID. A UID that CheckUID
// refuses gets an escaped name below r, never a path outside it.
func (r Root) Pod(uid string) Dir { return Dir(filepath.Join(string(r), element(uid))) }

// UIDs lists the pods that have a directory under r.
func (r Root) UIDs() ([]string, error) {
	entries, err := os.ReadDir(string(r))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var uids []string
	for _, e := range entries {
		if e.IsDir() {
			uids = append(uids, e.Name())
		}
	}
	return uids, nil
}

// CheckUID rejects a pod UID that is not one plain path element, so that no
// UID can name a path outside the root.
func CheckUID(uid string) error {
	if !plain(uid) {
		return fmt.Errorf("pod UID %q is not a plain name", uid)
	}
	return nil
}

// plain reports whether name is one ordinary path element that element
// keeps as it is. '%' is refused too: escaped names begin with it.
func plain(name string) bool {
	return name != "" && name != "." && name != ".." && !strings.ContainsAny(name, "/\x00%")
}

// element is name as a single path element. The API server validates the
// names paths are built from, but a name from the pod spec is not trusted
// here: one that is not plain (CheckUID) is hex-escaped behind a '%', so it
// stays in its directory and no two names share a path.
func element(name string) string {
	if plain(name) {
		return name
	}
	return "%" + hex.EncodeToString([]byte(name))
}

// Dir is one pod's directory.
type Dir string

// Path is the directory itself.
func (d Dir) Path() string { return string(d) }

// Namespaces holds the pinned namespaces.
func (d Dir) Namespaces() string { return filepath.Join(string(d), "ns") }

// Etc holds the pod's hosts, resolv.conf and hostname files.
func (d Dir) Etc() string { return filepath.Join(string(d), "etc") }

// Volumes holds one directory per pod volume.
func (d Dir) Volumes() string { return filepath.Join(string(d), "volumes") }

// VolumeSubpaths holds the bind mounts of volumeMounts' subPaths. It is a
// sibling of Volumes, not in it: no container sees this directory.
func (d Dir) VolumeSubpaths() string { return filepath.Join(string(d), "volume-subpaths") }

// Log is the CRI log of one attempt of a container.
func (d Dir) Log(container string, attempt int) string {
	return filepath.Join(string(d), "logs", element(container), strconv.Itoa(attempt)+".log")
}

// Termination is the host file behind a container attempt's
// terminationMessagePath.
func (d Dir) Termination(containerID string) string {
	return filepath.Join(string(d), "termination", element(containerID))
}

// IO holds the FIFOs of a container that keeps stdin open.
func (d Dir) IO(containerID string) string {
	return filepath.Join(string(d), "io", element(containerID))
}
