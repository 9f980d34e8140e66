package provider

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"regexp"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/vk-containerd/vk-containerd/internal/ctrd"
)

// specHash hashes a container's spec as given in the pod, but for its
// resources: a resize changes those in place, not by a new attempt.
func specHash(c *corev1.Container) string {
	without := *c
	without.Resources = corev1.ResourceRequirements{}
	return hashOf(&without)
}

// specHashOf reports whether hash is c's spec hash, as this agent makes it
// or as agents did before resizes, with the resources in: an upgraded agent
// does not restart the containers its predecessor started.
func specHashOf(hash string, c *corev1.Container) bool {
	return hash == specHash(c) || hash == hashOf(c)
}

func hashOf(c *corev1.Container) string {
	data, _ := json.Marshal(c)
	h := sha256.Sum256(data)
	return hex.EncodeToString(h[:8])
}

// containerID names the containerd container of one attempt of a pod's
// container. It starts with the pod UID, so an exit event leads to its pod.
func containerID(uid types.UID, name string, attempt int) string {
	h := sha256.Sum256([]byte(name))
	return fmt.Sprintf("%s-%s-%d", uid, hex.EncodeToString(h[:4]), attempt)
}

// imageViewKey names the snapshot view of a pod's image volume. It starts
// with the pod UID, like a container id, so that what a pod leaves behind
// is known by its key.
func imageViewKey(uid types.UID, volume string) string {
	h := sha256.Sum256([]byte(volume))
	return fmt.Sprintf("%s-image-%s", uid, hex.EncodeToString(h[:4]))
}

// imageViewKeyPattern matches what imageViewKey makes.
var imageViewKeyPattern = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}-image-[0-9a-f]{8}$`)

// containerIDPattern matches what containerID makes.
var containerIDPattern = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}-[0-9a-f]{8}-[0-9]+$`)

// isContainerID tells whether key names a container of this agent's.
func isContainerID(key string) bool { return containerIDPattern.MatchString(key) }

// isPodSnapshot tells whether key names a snapshot of one of this agent's
// pods, a container's or an image volume's: the namespace's other active
// snapshots are image unpacks in progress.
func isPodSnapshot(key string) bool {
	return isContainerID(key) || imageViewKeyPattern.MatchString(key)
}

// podUIDOf returns the pod UID at the start of a container id.
func podUIDOf(id string) types.UID {
	if len(id) < 36 {
		return ""
	}
	return types.UID(id[:36])
}

// tracked is what the worker knows of one container of the pod: its latest
// attempt and the one before, as containerd reports them.
type tracked struct {
	name     string
	kind     string
	current  *ctrd.ContainerStatus
	previous *ctrd.ContainerStatus

	// waiting is why the container does not run now, when it does not.
	waiting failure
	// The three pauses before the next start, each zero when it does not hold:
	crashUntil time.Time // the restart back-off of a crashed container (CrashLoopBackOff)
	pullUntil  time.Time // the back-off after a failed image pull (ImagePullBackOff)
	retryAt    time.Time // the pause after any other failure to create the container
	// replaced is set when the attempt was stopped for a new spec: the next
	// attempt starts without a back-off.
	replaced bool
	imageID  string
}

func (r *tracked) attempt() int {
	if r.current == nil {
		return -1
	}
	return ctrd.Attempt(r.current.Labels)
}

func (r *tracked) running() bool {
	return r.current != nil && r.current.State == ctrd.StateRunning
}

// exited reports whether the latest attempt has ended, and its exit code.
func (r *tracked) exited() (bool, int32) {
	if r.current == nil {
		return false, 0
	}
	if r.current.Labels[ctrd.LabelStartError] != "" {
		return true, 128
	}
	if r.current.State == ctrd.StateExited {
		return true, int32(r.current.ExitCode)
	}
	return false, 0
}

func restartDelay(labels map[string]string) (time.Duration, bool) {
	v, ok := labels[ctrd.LabelRestartDelay]
	if !ok {
		return 0, false
	}
	d, err := time.ParseDuration(v)
	return d, err == nil
}

// shouldRestart applies the pod's restart policy to a container that exited.
func shouldRestart(kind string, policy corev1.RestartPolicy, code int32) bool {
	switch kind {
	case ctrd.KindSidecar:
		return true
	case ctrd.KindEphemeral:
		return false
	}
	switch policy {
	case corev1.RestartPolicyNever:
		return false
	case corev1.RestartPolicyOnFailure:
		return code != 0
	}
	// Always: init containers still only restart on failure.
	return kind == ctrd.KindApp || code != 0
}
