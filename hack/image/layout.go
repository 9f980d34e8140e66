package main

import (
	"path"
	"path/filepath"
)

// What the agent's image is made of. The builder (main.go, image.sh) reads it,
// and layout_test.go holds the Dockerfile's final stage to it: the same
// packages, files, entrypoint and labels.

// suite is the Debian release of the image; the Dockerfile starts from its
// slim image.
const suite = "bookworm"

// packages are the Debian packages installed on top of the base: the CNI
// plugins run iptables or nft (portmap, bridge's ipMasq), and ca-certificates
// lets the agent verify public TLS endpoints.
var packages = []string{"ca-certificates", "iptables", "nftables"}

const (
	agentPath = "/usr/local/bin/vk-containerd"
	// cniBinDir is the agent's default --cni-bin-dir.
	cniBinDir        = "/opt/cni/bin"
	cniPluginsModule = "github.com/containernetworking/plugins"
	// versionVar is what the Makefile's -ldflags stamps with VERSION.
	versionVar = "github.com/vk-containerd/vk-containerd/internal/version.Version"
)

// cniPlugins are the packages, below cniPluginsModule/plugins, of the CNI
// plugins the image carries; each binary is named after its package.
var cniPlugins = []string{"main/bridge", "ipam/host-local", "main/loopback", "meta/portmap"}

var entrypoint = []string{agentPath}

// pathEnv is the PATH of Debian's slim image, which the Dockerfile inherits.
const pathEnv = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// entry is one file the image adds to Debian's packages.
type entry struct {
	path string // in the image
	from string // on this machine
}

// files lists the image's own files: the agent built at agent, and the CNI
// plugins built into cniDir.
func files(agent, cniDir string) []entry {
	out := []entry{{path: agentPath, from: agent}}
	for _, p := range cniPlugins {
		name := path.Base(p)
		out = append(out, entry{path: path.Join(cniBinDir, name), from: filepath.Join(cniDir, name)})
	}
	return out
}

// cniPackages are the CNI plugins' Go packages.
func cniPackages() []string {
	var out []string
	for _, p := range cniPlugins {
		out = append(out, cniPluginsModule+"/plugins/"+p)
	}
	return out
}

// labels are the image's OCI annotations for the given version.
func labels(version string) map[string]string {
	return map[string]string{
		"org.opencontainers.image.title":   "vk-containerd",
		"org.opencontainers.image.version": version,
	}
}
