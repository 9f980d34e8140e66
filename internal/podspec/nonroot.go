package podspec

import (
	"fmt"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// CheckRunAsNonRoot refuses a container that must run as a user other than
// root (runAsNonRoot, the container's value over the pod's) but would run as
// root, by its runAsUser or else by the image's user, imageUser. An image
// user that is a name cannot be checked and is refused too. The messages
// are the kubelet's.
func CheckRunAsNonRoot(pod *corev1.Pod, c *corev1.Container, imageUser string) error {
	nonRoot, uid := false, (*int64)(nil)
	if psc := pod.Spec.SecurityContext; psc != nil {
		nonRoot = psc.RunAsNonRoot != nil && *psc.RunAsNonRoot
		uid = psc.RunAsUser
	}
	if sc := c.SecurityContext; sc != nil {
		if sc.RunAsNonRoot != nil {
			nonRoot = *sc.RunAsNonRoot
		}
		if sc.RunAsUser != nil {
			uid = sc.RunAsUser
		}
	}
	if !nonRoot {
		return nil
	}
	who := fmt.Sprintf("(pod: %q, container: %s)", fmt.Sprintf("%s_%s(%s)", pod.Name, pod.Namespace, pod.UID), c.Name)
	if uid != nil {
		if *uid == 0 {
			return fmt.Errorf("container's runAsUser breaks non-root policy %s", who)
		}
		return nil
	}
	user, _, _ := strings.Cut(imageUser, ":")
	if user == "" { // no user in the image: root
		return fmt.Errorf("container has runAsNonRoot and image will run as root %s", who)
	}
	n, err := strconv.ParseInt(user, 10, 64)
	if err != nil {
		return fmt.Errorf("container has runAsNonRoot and image has non-numeric user (%s), cannot verify user is non-root %s", user, who)
	}
	if n == 0 {
		return fmt.Errorf("container has runAsNonRoot and image will run as root %s", who)
	}
	return nil
}
