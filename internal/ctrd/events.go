package ctrd

import (
	eventtypes "github.com/containerd/containerd/api/events"
	"google.golang.org/protobuf/proto"
)

// exitedContainer decodes a /tasks/exit event and returns its container id
// when the exited process is the container's init process (not an exec).
func exitedContainer(payload []byte) (string, error) {
	var e eventtypes.TaskExit
	if err := proto.Unmarshal(payload, &e); err != nil {
		return "", err
	}
	if e.ID != e.ContainerID {
		return "", errNotExit
	}
	return e.ContainerID, nil
}

// oomContainer decodes a /tasks/oom event and returns its container id.
func oomContainer(payload []byte) (string, error) {
	var e eventtypes.TaskOOM
	if err := proto.Unmarshal(payload, &e); err != nil {
		return "", err
	}
	return e.ContainerID, nil
}
