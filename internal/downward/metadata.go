package downward

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation"
)

// Metadata is the value of a pod metadata field for both env and volumes:
// metadata.name, metadata.namespace, metadata.uid and one label or
// annotation by subscript (metadata.labels['key']). ok is false for any
// other path, which the caller may know (spec and status fields for env,
// whole label and annotation maps for volumes).
func Metadata(pod *corev1.Pod, path string) (value string, ok bool, err error) {
	if base, key, sub := splitSubscript(path); sub {
		switch base {
		case "metadata.labels":
			if errs := validation.IsQualifiedName(key); len(errs) != 0 {
				return "", true, fmt.Errorf("invalid key subscript in %s: %s", path, strings.Join(errs, ";"))
			}
			return pod.Labels[key], true, nil
		case "metadata.annotations":
			if errs := validation.IsQualifiedName(strings.ToLower(key)); len(errs) != 0 {
				return "", true, fmt.Errorf("invalid key subscript in %s: %s", path, strings.Join(errs, ";"))
			}
			return pod.Annotations[key], true, nil
		}
		return "", true, fmt.Errorf("field label does not support subscript: %s", path)
	}
	switch path {
	case "metadata.name":
		return pod.Name, true, nil
	case "metadata.namespace":
		return pod.Namespace, true, nil
	case "metadata.uid":
		return string(pod.UID), true, nil
	}
	return "", false, nil
}

// splitSubscript splits "metadata.labels['key']" into its path and key.
func splitSubscript(path string) (base, key string, ok bool) {
	if !strings.HasSuffix(path, "']") {
		return path, "", false
	}
	base, key, ok = strings.Cut(strings.TrimSuffix(path, "']"), "['")
	if !ok || base == "" {
		return path, "", false
	}
	return base, key, true
}
