// Package poddir names the files the agent keeps on the host for each pod.
// It is the one place that knows the layout; everything else asks it:
//
//	<root>/<pod uid>/                         the pod's directory (Dir)
//	<root>/<pod uid>/ns/{net,ipc,uts}         pinned namespaces (package cni)
//	<root>/<pod uid>/etc/{hosts,resolv.conf,hostname}
//	<root>/<pod uid>/volumes/<volume>/        pod volumes (package volumes)
//	<root>/<pod uid>/logs/<container>/<attempt>.log
//	<root>/<pod uid>/termination/<container id>
//	<root>/<pod uid>/io/<container id>/       stdin/stdout FIFOs of `stdin: true` containers
//
// Removing the pod's directory removes all of it, once the namespaces are
// unpinned and the volumes unmounted.
package poddir

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Root is the directory that holds one directory per pod.
type Root string

// Pod is the directory of the pod with the given UID.
func (r Root) Pod(uid string) Dir { return Dir(filepath.Join(string(r), uid)) }

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
	if uid == "" || uid == "." || uid == ".." || strings.ContainsAny(uid, "/\x00") {
		return fmt.Errorf("pod UID %q is not a plain name", uid)
	}
	return nil
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

// Log is the CRI log of one attempt of a container.
func (d Dir) Log(container string, attempt int) string {
	return filepath.Join(string(d), "logs", container, strconv.Itoa(attempt)+".log")
}

// Termination is the host file behind a container attempt's
// terminationMessagePath.
func (d Dir) Termination(containerID string) string {
	return filepath.Join(string(d), "termination", containerID)
}

// IO holds the FIFOs of a container that keeps stdin open.
func (d Dir) IO(containerID string) string { return filepath.Join(string(d), "io", containerID) }
