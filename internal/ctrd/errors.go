package ctrd

import "errors"

// Error classes of the adapter. Every error a method returns for one of these
// reasons wraps the class, so callers branch with errors.Is and never see a
// containerd type; the message stays the cause's own.
var (
	// ErrInvalidImageName marks an image reference that cannot be parsed.
	ErrInvalidImageName = errors.New("invalid image name")
	// ErrImageNotFound marks an image that is not present on the node.
	ErrImageNotFound = errors.New("image not found on the node")
	// ErrPull marks a failed image pull (registry, network, credentials).
	ErrPull = errors.New("image pull failed")
	// ErrImageConfig marks an image whose config cannot be read.
	ErrImageConfig = errors.New("image config unreadable")
	// ErrCreate marks a container that containerd could not create.
	ErrCreate = errors.New("container create failed")
	// ErrExists marks a container id that is already taken.
	ErrExists = errors.New("container already exists")
	// ErrStart marks a task that could not be created or started.
	ErrStart = errors.New("task start failed")
)

// classified is an error of one class whose text is its cause's.
type classified struct{ class, cause error }

func (e *classified) Error() string   { return e.cause.Error() }
func (e *classified) Unwrap() []error { return []error{e.class, e.cause} }

// classify wraps err, when not nil, in class.
func classify(class, err error) error {
	if err == nil {
		return nil
	}
	return &classified{class: class, cause: err}
}
