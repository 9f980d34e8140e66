package provider

import (
	"errors"
	"strings"

	"github.com/vk-containerd/vk-containerd/internal/ctrd"
	"github.com/vk-containerd/vk-containerd/internal/podenv"
)

// Reasons a container waits, and event reasons, as the kubelet writes them.
const (
	ReasonContainerCreating    = "ContainerCreating"
	ReasonPodInitializing      = "PodInitializing"
	ReasonErrImagePull         = "ErrImagePull"
	ReasonImagePullBackOff     = "ImagePullBackOff"
	ReasonErrImageNeverPull    = "ErrImageNeverPull"
	ReasonInvalidImageName     = "InvalidImageName"
	ReasonCreateConfigError    = "CreateContainerConfigError"
	ReasonCreateContainerError = "CreateContainerError"
	ReasonRunContainerError    = "RunContainerError"
	ReasonCrashLoopBackOff     = "CrashLoopBackOff"
	ReasonStartError           = "StartError"
	ReasonCompleted            = "Completed"
	ReasonError                = "Error"
	ReasonOOMKilled            = "OOMKilled"
	ReasonDeadlineExceeded     = "DeadlineExceeded"
	ReasonSysctlForbidden      = "SysctlForbidden"
	ReasonFailedValidation     = "FailedValidation"
	ReasonEvicted              = "Evicted"

	eventPulling      = "Pulling"
	eventPulled       = "Pulled"
	eventCreated      = "Created"
	eventStarted      = "Started"
	eventKilling      = "Killing"
	eventFailed       = "Failed"
	eventBackOff      = "BackOff"
	eventSandboxError = "FailedCreatePodSandBox"
	eventFailedMount  = "FailedMount"
	eventUnhealthy    = "Unhealthy"
	// The hooks' failures, as the kubelet names them.
	eventFailedPostStartHook = "FailedPostStartHook"
	eventFailedPreStopHook   = "FailedPreStopHook"
)

// Errors the worker itself classifies; the adapter's classes are in internal/ctrd.
var (
	// errNeverPull: the image is missing and the pull policy is Never.
	errNeverPull = errors.New("image not present with pull policy Never")
	// errImageLookup: the node's image store did not answer.
	errImageLookup = errors.New("cannot look up the image")
	// errRunContainer: the node could not prepare what the task needs.
	errRunContainer = errors.New("cannot run container")
)

// reasons maps the classes of errors from starting a container to the
// waiting reason the kubelet gives, first match first. It is the one place
// that decides a container's waiting reason from an error.
var reasons = []struct {
	class  error
	reason string
}{
	{ctrd.ErrInvalidImageName, ReasonInvalidImageName},
	{errNeverPull, ReasonErrImageNeverPull},
	{ctrd.ErrPull, ReasonErrImagePull},
	{errImageLookup, ReasonErrImagePull},
	{podenv.ErrConfig, ReasonCreateConfigError},
	// The kubelet gives the same reason when the API does not answer while
	// it builds the environment; the class still says it will pass.
	{podenv.ErrSource, ReasonCreateConfigError},
	{ctrd.ErrStart, ReasonRunContainerError},
	{errRunContainer, ReasonRunContainerError},
	{ctrd.ErrImageConfig, ReasonCreateContainerError},
	{ctrd.ErrCreate, ReasonCreateContainerError},
}

// failureOf is why a container does not run after err: the reason from the
// table (CreateContainerError for anything else, a transient API error
// among them) and a message a user can read.
func failureOf(err error) failure {
	reason := ReasonCreateContainerError
	for _, r := range reasons {
		if errors.Is(err, r.class) {
			reason = r.reason
			break
		}
	}
	return failure{reason: reason, message: messageOf(err)}
}

// reportedByEvent reports whether a waiting reason gets a Failed event of
// its own: image failures have theirs (Failed to pull image ...).
func reportedByEvent(reason string) bool {
	switch reason {
	case ReasonErrImagePull, ReasonErrImageNeverPull, ReasonInvalidImageName:
		return false
	}
	return true
}

// messageOf shortens runtime errors to what a user needs to read.
func messageOf(err error) string {
	msg := err.Error()
	if i := strings.Index(msg, "OCI runtime create failed: "); i >= 0 {
		msg = msg[i:]
	}
	return msg
}
