package volumes

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// addDownwardAPI adds one file per downward API item to files.
func addDownwardAPI(files map[string]File, pod *corev1.Pod, items []corev1.DownwardAPIVolumeFile, def os.FileMode) error {
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
			val, err = resourceFieldValue(pod, it.ResourceFieldRef)
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

// podFieldValue returns the value of a pod metadata field usable in volumes.
func podFieldValue(pod *corev1.Pod, fieldPath string) (string, error) {
	switch fieldPath {
	case "metadata.name":
		return pod.Name, nil
	case "metadata.namespace":
		return pod.Namespace, nil
	case "metadata.uid":
		return string(pod.UID), nil
	case "metadata.labels":
		return formatMap(pod.Labels), nil
	case "metadata.annotations":
		return formatMap(pod.Annotations), nil
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

// resourceFieldValue returns a container's request or limit divided by the
// divisor and rounded up. An unset limit is the node's capacity; an unset
// request is the limit if one is set, else zero.
func resourceFieldValue(pod *corev1.Pod, ref *corev1.ResourceFieldSelector) (string, error) {
	if ref.ContainerName == "" {
		return "", errors.New("resourceFieldRef needs a containerName in volumes")
	}
	c := findContainer(pod, ref.ContainerName)
	if c == nil {
		return "", fmt.Errorf("container %q not found in pod", ref.ContainerName)
	}
	kind, name, ok := strings.Cut(ref.Resource, ".")
	res := corev1.ResourceName(name)
	if !ok || (kind != "limits" && kind != "requests") ||
		(res != corev1.ResourceCPU && res != corev1.ResourceMemory && res != corev1.ResourceEphemeralStorage) {
		return "", fmt.Errorf("unsupported resource %q", ref.Resource)
	}
	q, haveLimit := c.Resources.Limits[res]
	if kind == "requests" {
		if r, ok := c.Resources.Requests[res]; ok {
			q = r
		} else if !haveLimit {
			q = resource.Quantity{}
		}
	} else if !haveLimit {
		var err error
		if q, err = nodeCapacity(res); err != nil {
			return "", err
		}
	}
	div := ref.Divisor
	if div.IsZero() {
		div = resource.MustParse("1")
	}
	if div.Sign() <= 0 {
		return "", fmt.Errorf("invalid divisor %s", div.String())
	}
	if res == corev1.ResourceCPU {
		return strconv.FormatInt(ceilDiv(q.MilliValue(), div.MilliValue()), 10), nil
	}
	return strconv.FormatInt(ceilDiv(q.Value(), div.Value()), 10), nil
}

// ceilDiv returns a/b rounded up, for b > 0.
func ceilDiv(a, b int64) int64 {
	if b <= 0 {
		return 0
	}
	q := a / b
	if a%b > 0 {
		q++
	}
	return q
}

// findContainer returns the init or regular container called name, or nil.
func findContainer(pod *corev1.Pod, name string) *corev1.Container {
	for _, list := range [][]corev1.Container{pod.Spec.Containers, pod.Spec.InitContainers} {
		for i := range list {
			if list[i].Name == name {
				return &list[i]
			}
		}
	}
	return nil
}

// nodeCapacity is the node's total of res, the value a limit defaults to.
func nodeCapacity(res corev1.ResourceName) (resource.Quantity, error) {
	switch res {
	case corev1.ResourceCPU:
		return *resource.NewQuantity(int64(runtime.NumCPU()), resource.DecimalSI), nil
	case corev1.ResourceMemory:
		var si unix.Sysinfo_t
		if err := unix.Sysinfo(&si); err != nil {
			return resource.Quantity{}, fmt.Errorf("reading node memory: %w", err)
		}
		return *resource.NewQuantity(int64(si.Totalram)*int64(si.Unit), resource.BinarySI), nil
	default:
		var st unix.Statfs_t
		if err := unix.Statfs("/", &st); err != nil {
			return resource.Quantity{}, fmt.Errorf("reading node storage: %w", err)
		}
		return *resource.NewQuantity(int64(st.Blocks)*st.Bsize, resource.BinarySI), nil
	}
}
