package podspec

import (
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/vk-containerd/vk-containerd/internal/poddir"
)

// InvalidNames returns why the node refuses the names its files for the pod
// would be made from, or "": a UID that is not a plain name (poddir), or
// container or volume names that are not unique DNS labels. The API server
// validates these, but a path on the host must not depend on that. The
// words are the API server's, after "invalid pod: " as the kubelet says it of
// a pod that fails validation.
func InvalidNames(pod *corev1.Pod) string {
	var errs field.ErrorList
	if err := poddir.CheckUID(string(pod.UID)); err != nil {
		errs = append(errs, field.Invalid(field.NewPath("metadata", "uid"), pod.UID, err.Error()))
	}
	seen := map[string]bool{}
	check := func(p *field.Path, name string) {
		if msgs := validation.IsDNS1123Label(name); len(msgs) > 0 {
			errs = append(errs, field.Invalid(p, name, strings.Join(msgs, "; ")))
		} else if seen[name] {
			errs = append(errs, field.Duplicate(p, name))
		}
		seen[name] = true
	}
	spec := field.NewPath("spec")
	for i, c := range pod.Spec.InitContainers {
		check(spec.Child("initContainers").Index(i).Child("name"), c.Name)
	}
	for i, c := range pod.Spec.Containers {
		check(spec.Child("containers").Index(i).Child("name"), c.Name)
	}
	for i, c := range pod.Spec.EphemeralContainers {
		check(spec.Child("ephemeralContainers").Index(i).Child("name"), c.Name)
	}
	seen = map[string]bool{}
	for i, v := range pod.Spec.Volumes {
		check(spec.Child("volumes").Index(i).Child("name"), v.Name)
	}
	if len(errs) == 0 {
		return ""
	}
	return "invalid pod: " + errs.ToAggregate().Error()
}
