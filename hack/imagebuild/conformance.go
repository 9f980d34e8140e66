package main

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/vk-containerd/vk-containerd/hack/ociimage"
)

// The images of the upstream e2e suite's tests, under the names and tags of
// test/utils/image/manifest.go (Kubernetes v1.37). Pushed below
// <registry>/e2e-test-images, except pause, which is pushed below <registry>.
// Upstream's agnhost is Alpine with curl, netcat-openbsd and bind-tools, which
// the Services, Networking and DNS specs run; these stand-ins have the same
// tools from a Debian root filesystem (the tools layer, made by mmdebstrap),
// the suite's own agnhost and nnp programs, and kitten's and nautilus's files.
// The busybox images carry upstream's busybox 1.37, static (hack/deps.sh
// busybox; run.sh passes it as --busybox), like upstream's busybox image:
// Debian's busybox-static reverts upstream's fix that keeps environment
// variables whose names are not shell identifiers (data-1), which the
// ConfigMap and Secret env specs print with `sh -c env`.
//
//	agnhost:2.66.1, agnhost:2.55  tools, /agnhost (entrypoint, Cmd pause), /agnhost-2,
//	                              /localhost.crt and .key
//	busybox:1.37.0-2              busybox; Cmd sh
//	glibc-dns-testing:2.1.1       tools; Cmd sh
//	kitten:1.8, nautilus:1.8      agnhost with /<name>.jpg and /data.json; Cmd test-webserver
//	nginx:1.27.0-2, 1.28.0-2      a stand-in: agnhost serving / over HTTP on port 80
//	nonewprivs:1.4                busybox with a setuid-root /usr/local/bin/nnp; Cmd nnp
//	nonroot:1.5                   busybox with user 1234
//	pause:3.10.2                  /agnhost pause
const (
	agnhostTag    = "2.66.1"
	agnhostPrev   = "2.55"
	busyboxTag    = "1.37.0-2"
	glibcDNSTag   = "2.1.1"
	kittenTag     = "1.8"
	nautilusTag   = "1.8"
	nginxTag      = "1.27.0-2"
	nginxNewTag   = "1.28.0-2"
	nonewprivsTag = "1.4"
	nonrootTag    = "1.5"
	pauseTag      = "3.10.2"
)

// osRelease is what agnhost-based images say they are; the ImageVolume spec
// looks for "Alpine Linux" in kitten's /etc/os-release.
const osRelease = `NAME="vk-containerd e2e image"
ID=busybox
PRETTY_NAME="busybox stand-in for an Alpine Linux based e2e image"
`

// suiteLayers are the layers the suite's images are made of.
type suiteLayers struct {
	busybox, tools, agnhost, agnhostExtras, kitten, nautilus, nonewprivs v1.Layer
}

// buildSuiteLayers makes the layers from busybox, tools (a tarball of a
// Debian root filesystem) and dir, which holds the static agnhost and nnp
// binaries, and kitten/ and nautilus/ with their files.
func buildSuiteLayers(busybox, tools, dir string) (suiteLayers, error) {
	var l suiteLayers
	read := func(name string) ([]byte, error) { return os.ReadFile(filepath.Join(dir, name)) }
	var err error
	if l.tools, err = tarball.LayerFromFile(tools); err != nil {
		return l, fmt.Errorf("tools layer: %w", err)
	}
	agnhostBin, err := read("agnhost")
	if err != nil {
		return l, err
	}
	nnp, err := read("nnp")
	if err != nil {
		return l, err
	}
	crt, key, err := localhostCert()
	if err != nil {
		return l, err
	}
	bbFiles, err := busyboxFiles(busybox)
	if err != nil {
		return l, err
	}
	l.busybox, err = layerOf(bbFiles)
	if err != nil {
		return l, err
	}
	l.agnhost, err = layerOf([]file{{path: "agnhost", mode: 0o755, data: agnhostBin}})
	if err != nil {
		return l, err
	}
	l.agnhostExtras, err = layerOf([]file{
		{path: "agnhost-2", link: "agnhost"},
		{path: "etc/passwd", mode: 0o644, data: []byte("root:x:0:0:root:/root:/bin/sh\n" +
			"nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n" +
			"user-defined-in-image:x:1000:1000::/home/user-defined-in-image:/bin/sh\n")},
		{path: "etc/group", mode: 0o644, data: []byte("root:x:0:\nnogroup:x:65534:\n" +
			"user-defined-in-image:x:1000:\ngroup-defined-in-image:x:50000:user-defined-in-image\n")},
		{path: "etc/os-release", mode: 0o644, data: []byte(osRelease)},
		{path: "home", dir: true, mode: 0o755},
		{path: "home/user-defined-in-image", dir: true, mode: 0o755},
		{path: "localhost.crt", mode: 0o644, data: crt},
		{path: "localhost.key", mode: 0o600, data: key},
		{path: "uploads", dir: true, mode: 0o755},
	})
	if err != nil {
		return l, err
	}
	if l.kitten, err = pictureLayer(dir, "kitten"); err != nil {
		return l, err
	}
	if l.nautilus, err = pictureLayer(dir, "nautilus"); err != nil {
		return l, err
	}
	l.nonewprivs, err = layerOf([]file{
		{path: "usr", dir: true, mode: 0o755},
		{path: "usr/local", dir: true, mode: 0o755},
		{path: "usr/local/bin", dir: true, mode: 0o755},
		{path: "usr/local/bin/nnp", mode: 0o4755, data: nnp},
	})
	if err != nil {
		return l, err
	}
	return l, nil
}

// pictureLayer is the layer of the suite's kitten or nautilus image: the
// picture and the data.json that names it, from dir/<name>/, at the root.
func pictureLayer(dir, name string) (v1.Layer, error) {
	jpg, err := os.ReadFile(filepath.Join(dir, name, name+".jpg"))
	if err != nil {
		return nil, err
	}
	data, err := os.ReadFile(filepath.Join(dir, name, "data.json"))
	if err != nil {
		return nil, err
	}
	return layerOf([]file{
		{path: name + ".jpg", mode: 0o644, data: jpg},
		{path: "data.json", mode: 0o644, data: data},
	})
}

// conformanceImages builds every image of the suite (buildSuiteLayers).
func conformanceImages(busybox, tools, dir string) (map[string]v1.Image, error) {
	l, err := buildSuiteLayers(busybox, tools, dir)
	if err != nil {
		return nil, err
	}
	bb, agnhostOnly, nonewprivs := l.busybox, l.agnhost, l.nonewprivs
	agnhost := []v1.Layer{l.tools, l.agnhost, l.agnhostExtras}
	agnhostCfg := func(cmd ...string) v1.Config {
		return v1.Config{Entrypoint: []string{"/agnhost"}, Cmd: cmd, Env: []string{defaultPath},
			ExposedPorts: map[string]struct{}{"80/tcp": {}, "8080/tcp": {}, "8081/tcp": {}, "9376/tcp": {}, "5000/tcp": {}}}
	}
	shell := v1.Config{Cmd: []string{"sh"}, Env: []string{defaultPath}}
	nonroot := shell
	nonroot.User = "1234"
	specs := []struct {
		ref    string
		cfg    v1.Config
		layers []v1.Layer
	}{
		{"e2e-test-images/agnhost:" + agnhostTag, agnhostCfg("pause"), agnhost},
		{"e2e-test-images/agnhost:" + agnhostPrev, agnhostCfg("pause"), agnhost},
		{"e2e-test-images/kitten:" + kittenTag, agnhostCfg("test-webserver"), append(slices.Clone(agnhost), l.kitten)},
		{"e2e-test-images/nautilus:" + nautilusTag, agnhostCfg("test-webserver"), append(slices.Clone(agnhost), l.nautilus)},
		{"e2e-test-images/nginx:" + nginxTag, agnhostCfg("test-webserver"), agnhost},
		{"e2e-test-images/nginx:" + nginxNewTag, agnhostCfg("test-webserver"), agnhost},
		{"e2e-test-images/glibc-dns-testing:" + glibcDNSTag, shell, []v1.Layer{l.tools}},
		{"e2e-test-images/busybox:" + busyboxTag, shell, []v1.Layer{bb}},
		{"e2e-test-images/nonroot:" + nonrootTag, nonroot, []v1.Layer{bb}},
		{"e2e-test-images/nonewprivs:" + nonewprivsTag, v1.Config{Cmd: []string{"nnp"}, Env: []string{defaultPath}}, []v1.Layer{bb, nonewprivs}},
		{"pause:" + pauseTag, v1.Config{Entrypoint: []string{"/agnhost", "pause"}}, []v1.Layer{agnhostOnly}},
	}
	images := make(map[string]v1.Image, len(specs))
	for _, s := range specs {
		img, err := ociimage.Of(s.cfg, s.layers...)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", s.ref, err)
		}
		images[s.ref] = img
	}
	return images, nil
}

// pushConformance builds the e2e suite's images and pushes them below registry.
func pushConformance(registry, busybox, tools, dir string) error {
	images, err := conformanceImages(busybox, tools, dir)
	if err != nil {
		return err
	}
	for _, ref := range slices.Sorted(maps.Keys(images)) {
		push(registry+"/"+ref, images[ref])
	}
	return nil
}
