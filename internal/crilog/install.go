package crilog

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// InstallDriver copies the binary at self to dir/vk-containerd, unless the
// copy there is already the same, and returns the copy's path. The shim runs
// the log driver on the host, by path: when the agent runs in a container
// its own binary is not on the host, but dir (under the agent's root,
// mounted at the same path on both sides) is. A driver that runs keeps its
// old file: the copy replaces the name, not the file.
func InstallDriver(self, dir string) (string, error) {
	want, err := os.ReadFile(self)
	if err != nil {
		return "", fmt.Errorf("read the agent's binary for the log driver: %w", err)
	}
	dst := filepath.Join(dir, "vk-containerd")
	if have, err := os.ReadFile(dst); err == nil && bytes.Equal(have, want) {
		return dst, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("log driver directory: %w", err)
	}
	tmp, err := os.CreateTemp(dir, ".vk-containerd-")
	if err != nil {
		return "", fmt.Errorf("install the log driver: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := io.Copy(tmp, bytes.NewReader(want)); err != nil {
		tmp.Close()
		return "", fmt.Errorf("install the log driver: %w", err)
	}
	if err := tmp.Chmod(0o755); err != nil {
		tmp.Close()
		return "", err
	}
	if err := tmp.Close(); err != nil {
		return "", fmt.Errorf("install the log driver: %w", err)
	}
	if err := os.Rename(tmp.Name(), dst); err != nil {
		return "", fmt.Errorf("install the log driver: %w", err)
	}
	return dst, nil
}
