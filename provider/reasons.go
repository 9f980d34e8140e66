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

// startError is why a container could not be started, with the reason the
// kubelet would give.
type startError struct {
	reason string
	err    error
}

func (e *startError) Error() string { return e.err.Error() }
func (e *startError) Unwrap() error { return e.err }

func newStartError(reason string, err error) error { return &startError{reason: reason, err: err} }

// reasonOf maps an error from starting a container to its waiting reason.
func reasonOf(err error) string {
	var se *startError
	if errors.As(err, &se) {
		return se.reason
	}
	switch {
	case errors.Is(err, ctrd.ErrInvalidImageName):
		return ReasonInvalidImageName
	case errors.Is(err, podenv.ErrConfig):
		return ReasonCreateConfigError
	}
	return ReasonCreateContainerError
}

// messageOf shortens runtime errors to what a user needs to read.
func messageOf(err error) string {
	msg := err.Error()
	if i := strings.Index(msg, "OCI runtime create failed: "); i >= 0 {
		msg = msg[i:]
	}
	return msg
}
