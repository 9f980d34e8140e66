// Package version holds the version of vk-containerd, set at build time.
package version

// Version is the release of vk-containerd. The Makefile sets it with
// -ldflags "-X github.com/vk-containerd/vk-containerd/version.Version=...".
// The node reports it as its kubelet version.
var Version = "v0.1.0-dev"

// Component is the name the agent uses for itself in events and user agents.
const Component = "vk-containerd"
