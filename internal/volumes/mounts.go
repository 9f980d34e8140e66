package volumes

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/vk-containerd/vk-containerd/internal/podenv"
)

// Mount is a bind mount of a host path into a container.
type Mount struct {
	Source, Destination string
	ReadOnly            bool
}

// ContainerMounts returns the bind mounts for c's volumeMounts given the host
// paths Prepare returned. subPath (or subPathExpr, expanded from env, the
// container's resolved environment) selects a file or directory under the
// volume; absolute subPaths, ".." elements and symlinks leading out of the
// volume are rejected. A missing subPath is created as a 0755 directory in
// writable volumes and is an error in the read-only ones. readOnly comes from
// the volumeMount, and secret, configMap, downwardAPI and projected volumes
// are always mounted read-only, as the kubelet does.
func ContainerMounts(pod *corev1.Pod, c *corev1.Container, hostPaths map[string]string, env map[string]string) ([]Mount, error) {
	if pod == nil || c == nil {
		return nil, errors.New("nil pod or container")
	}
	vols := make(map[string]*corev1.Volume, len(pod.Spec.Volumes))
	for i := range pod.Spec.Volumes {
		vols[pod.Spec.Volumes[i].Name] = &pod.Spec.Volumes[i]
	}
	mounts := make([]Mount, 0, len(c.VolumeMounts))
	for _, vm := range c.VolumeMounts {
		v, ok := vols[vm.Name]
		if !ok {
			return nil, fmt.Errorf("volume %q not found in pod spec", vm.Name)
		}
		src := hostPaths[vm.Name]
		if src == "" {
			return nil, fmt.Errorf("volume %q has no host path; was the pod prepared?", vm.Name)
		}
		if vm.MountPath == "" {
			return nil, fmt.Errorf("volume %q: empty mountPath", vm.Name)
		}
		readOnly := vm.ReadOnly || isAtomicVolume(v)
		sub := vm.SubPath
		if vm.SubPathExpr != "" {
			if sub != "" {
				return nil, fmt.Errorf("volume %q: subPath and subPathExpr are mutually exclusive", vm.Name)
			}
			sub = podenv.Expand(vm.SubPathExpr, env)
		}
		if sub != "" {
			resolved, err := resolveSubPath(src, sub, !isAtomicVolume(v))
			if err != nil {
				return nil, fmt.Errorf("volume %q subPath %q: %w", vm.Name, sub, err)
			}
			src = resolved
		}
		mounts = append(mounts, Mount{
			Source:      src,
			Destination: path.Clean("/" + vm.MountPath),
			ReadOnly:    readOnly,
		})
	}
	return mounts, nil
}

// resolveSubPath returns the real host path of sub inside the volume at root,
// following symlinks only while they stay inside the volume. With create,
// missing path elements are created as directories.
func resolveSubPath(root, sub string, create bool) (string, error) {
	if path.IsAbs(sub) || filepath.IsAbs(sub) {
		return "", errors.New("must be a relative path")
	}
	for _, part := range strings.Split(sub, "/") {
		if part == ".." {
			return "", errors.New("must not contain '..'")
		}
	}
	realRoot, err := filepath.EvalSymlinks(root)
	if err != nil {
		return "", fmt.Errorf("resolving volume path: %w", err)
	}
	cur := realRoot
	for _, part := range strings.Split(path.Clean(sub), "/") {
		if part == "." || part == "" {
			continue
		}
		next := filepath.Join(cur, part)
		info, err := os.Lstat(next)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			if !create {
				return "", errors.New("does not exist in the volume")
			}
			if err := os.Mkdir(next, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
				return "", fmt.Errorf("creating %s: %w", next, err)
			}
		case err != nil:
			return "", err
		case info.Mode()&fs.ModeSymlink != 0:
			if next, err = filepath.EvalSymlinks(next); err != nil {
				return "", fmt.Errorf("resolving: %w", err)
			}
			if !within(realRoot, next) {
				return "", errors.New("resolves outside the volume")
			}
		}
		cur = next
	}
	return cur, nil
}

// within reports whether p is root or below it; both must be clean.
func within(root, p string) bool {
	return p == root || root == "/" || strings.HasPrefix(p, root+string(filepath.Separator))
}
