package volumes

import (
	"errors"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/vk-containerd/vk-containerd/internal/downward"
)

// addDownwardAPI adds one file per downward API item to files. A limit a
// container does not set is the node's allocatable, as in its env.
func addDownwardAPI(files map[string]File, pod *corev1.Pod, items []corev1.DownwardAPIVolumeFile, def os.FileMode, allocatable corev1.ResourceList) error {
	for _, it := range items {
		mode, err := fileMode(it.Mode, int32(def))
		if err != nil {
			return fmt.Errorf("downwardAPI item %q: %w", it.Path, err)
		}
		var val string
		switch {
		case it.FieldRef != nil:
			val, err = podFieldValue(pod, it.FieldRef.FieldPath)
		case it.ResourceFieldRef != nil:
			val, err = resourceFieldValue(pod, it.ResourceFieldRef, allocatable)
		default:
			err = errors.New("neither fieldRef nor resourceFieldRef is set")
		}
		if err != nil {
			return fmt.Errorf("downwardAPI item %q: %w", it.Path, err)
		}
		files[it.Path] = File{Data: []byte(val), Mode: mode}
	}
	return nil
}

// podFieldValue returns the value of a pod metadata field usable in
// volumes: those of package downward, and the whole label and annotation maps.
func podFieldValue(pod *corev1.Pod, fieldPath string) (string, error) {
	switch fieldPath {
	case "metadata.labels":
		return formatMap(pod.Labels), nil
	case "metadata.annotations":
		return formatMap(pod.Annotations), nil
	}
	if v, ok, err := downward.Metadata(pod, fieldPath); ok {
		return v, err
	}
	return "", fmt.Errorf("unsupported fieldPath %q", fieldPath)
}

// formatMap renders m as key="value" lines sorted by key, with values quoted
// like Go string literals and no newline after the last line.
func formatMap(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(strconv.Quote(m[k]))
	}
	return b.String()
}

// resourceFieldValue is a container's request or limit (package downward).
// In a volume the selector must name its container.
func resourceFieldValue(pod *corev1.Pod, ref *corev1.ResourceFieldSelector, allocatable corev1.ResourceList) (string, error) {
	if ref.ContainerName == "" {
		return "", errors.New("resourceFieldRef needs a containerName in volumes")
	}
	c := downward.Container(pod, ref.ContainerName)
	if c == nil {
		return "", fmt.Errorf("container %q not found in pod", ref.ContainerName)
	}
	return downward.ResourceValue(pod, c, ref, allocatable)
}
