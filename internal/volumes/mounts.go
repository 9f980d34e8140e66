package volumes

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
	corev1 "k8s.io/api/core/v1"

	"github.com/vk-containerd/vk-containerd/internal/hostroot"
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
// volume are rejected with the kubelet's messages. A missing subPath is
// created as a 0755 directory in writable volumes and is an error in the
// read-only ones. The subPath is opened safely (openSubPath) and bind-mounted
// onto <subPathDir>/<volume>/<container>/<index>, which the mount then
// names: no container can repoint that path between the check and the
// runtime's mount. Manager.Cleanup unmounts them. readOnly comes from the
// volumeMount, and secret, configMap, downwardAPI and projected volumes are
// always mounted read-only, as the kubelet does.
//
// hostRoot is where the agent sees the host's / ("" on the host): a subPath
// of a hostPath volume is opened there.
func ContainerMounts(pod *corev1.Pod, c *corev1.Container, hostPaths map[string]string, env map[string]string, subPathDir, hostRoot string) ([]Mount, error) {
	if pod == nil || c == nil {
		return nil, errors.New("nil pod or container")
	}
	vols := make(map[string]*corev1.Volume, len(pod.Spec.Volumes))
	for i := range pod.Spec.Volumes {
		vols[pod.Spec.Volumes[i].Name] = &pod.Spec.Volumes[i]
	}
	mounts := make([]Mount, 0, len(c.VolumeMounts))
	for i, vm := range c.VolumeMounts {
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
		readOnly := vm.ReadOnly || readOnlyVolume(v)
		sub := vm.SubPath
		if vm.SubPathExpr != "" {
			if sub != "" {
				return nil, fmt.Errorf("volume %q: subPath and subPathExpr are mutually exclusive", vm.Name)
			}
			sub = podenv.Expand(vm.SubPathExpr, env)
		}
		if sub != "" {
			if err := checkSubPath(sub); err != nil {
				return nil, err
			}
			if err := checkPlainName("volume name", vm.Name); err != nil {
				return nil, err
			}
			if err := checkPlainName("container name", c.Name); err != nil {
				return nil, err
			}
			target := filepath.Join(subPathDir, vm.Name, c.Name, strconv.Itoa(i))
			if v.HostPath != nil {
				src = hostroot.Path(hostRoot, src)
			}
			if err := mountSubPath(src, sub, !readOnlyVolume(v), target); err != nil {
				// The kubelet's words, which tell a directory it would
				// have made from a subPath that is there.
				what := "prepare subPath"
				if _, serr := os.Stat(filepath.Join(src, sub)); errors.Is(serr, fs.ErrNotExist) && !readOnlyVolume(v) {
					what = "create subPath directory"
				}
				return nil, fmt.Errorf("failed to %s for volumeMount %q of container %q: %w", what, vm.Name, c.Name, err)
			}
			src = target
		}
		mounts = append(mounts, Mount{
			Source:      src,
			Destination: path.Clean("/" + vm.MountPath),
			ReadOnly:    readOnly,
		})
	}
	return mounts, nil
}

// checkSubPath refuses, in the kubelet's words, an absolute subPath or one
// with a ".." element.
func checkSubPath(sub string) error {
	if path.IsAbs(sub) || filepath.IsAbs(sub) {
		return fmt.Errorf("error SubPath `%s` must not be an absolute path", sub)
	}
	for _, part := range strings.Split(sub, "/") {
		if part == ".." {
			return fmt.Errorf("unable to provision SubPath `%s`: must not contain '..'", sub)
		}
	}
	return nil
}

// mountSubPath opens sub in the volume at root and bind-mounts it on target.
func mountSubPath(root, sub string, create bool, target string) error {
	fd, err := openSubPath(root, sub, create)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	return bindSubPath(fd, target)
}
