package volumes

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	corev1 "k8s.io/api/core/v1"

	"github.com/vk-containerd/vk-containerd/internal/hostroot"
)

// prepareHostPath checks (or creates) a hostPath volume according to its type
// and returns the cleaned host path. hostRoot is where the agent sees the
// host's / ("" when it runs on the host): checks and creation happen there,
// while the path returned is the host's, for the runtime.
func prepareHostPath(hp *corev1.HostPathVolumeSource, hostRoot string) (string, error) {
	if !filepath.IsAbs(hp.Path) {
		return "", fmt.Errorf("hostPath %q is not an absolute path", hp.Path)
	}
	hostPath := filepath.Clean(hp.Path)
	p := hostroot.Path(hostRoot, hostPath)
	var typ corev1.HostPathType
	if hp.Type != nil {
		typ = *hp.Type
	}
	switch typ {
	case corev1.HostPathUnset:
		return hostPath, nil
	case corev1.HostPathDirectoryOrCreate:
		return hostPath, ensureHostDir(p)
	case corev1.HostPathFileOrCreate:
		return hostPath, ensureHostFile(p)
	}
	want, ok := hostPathChecks[typ]
	if !ok {
		return "", fmt.Errorf("%s is an invalid volume type", typ)
	}
	info, err := os.Stat(p)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("hostPath type check failed: %w", err)
	}
	if err != nil || !want.matches(info.Mode()) {
		return "", typeCheckError(hostPath, want.what)
	}
	return hostPath, nil
}

// hostPathCheck is how one hostPath type is recognized and described.
type hostPathCheck struct {
	what    string
	matches func(os.FileMode) bool
}

// hostPathChecks maps the types that only check an existing path.
var hostPathChecks = map[corev1.HostPathType]hostPathCheck{
	corev1.HostPathDirectory: {"a directory", os.FileMode.IsDir},
	corev1.HostPathFile:      {"a file", os.FileMode.IsRegular},
	corev1.HostPathSocket: {"a socket file", func(m os.FileMode) bool {
		return m.Type() == os.ModeSocket
	}},
	corev1.HostPathCharDev: {"a character device", func(m os.FileMode) bool {
		return m.Type() == os.ModeDevice|os.ModeCharDevice
	}},
	corev1.HostPathBlockDev: {"a block device", func(m os.FileMode) bool {
		return m.Type() == os.ModeDevice
	}},
}

// typeCheckError is the kubelet-style error for a failed hostPath type check.
func typeCheckError(p, what string) error {
	return fmt.Errorf("hostPath type check failed: %s is not %s", p, what)
}

// ensureHostDir creates p as a 0755 directory if nothing exists there.
func ensureHostDir(p string) error {
	info, err := os.Stat(p)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if err := os.MkdirAll(p, 0o755); err != nil {
			return fmt.Errorf("creating hostPath directory %s: %w", p, err)
		}
		return nil
	case err != nil:
		return fmt.Errorf("hostPath type check failed: %w", err)
	case !info.IsDir():
		return typeCheckError(p, "a directory")
	}
	return nil
}

// ensureHostFile creates p as an empty 0644 file if nothing exists there. Its
// parent directory must exist.
func ensureHostFile(p string) error {
	info, err := os.Stat(p)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		f, err := os.OpenFile(p, os.O_RDONLY|os.O_CREATE, 0o644)
		if err != nil {
			return fmt.Errorf("creating hostPath file %s: %w", p, err)
		}
		return f.Close()
	case err != nil:
		return fmt.Errorf("hostPath type check failed: %w", err)
	case !info.Mode().IsRegular():
		return typeCheckError(p, "a file")
	}
	return nil
}
