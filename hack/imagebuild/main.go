// Command imagebuild builds test images without Docker and pushes them to a
// registry. By default it builds the local cluster's images:
//
//	busybox:1.35     Debian's busybox-static, with /etc/passwd, /etc/group and /tmp; Cmd sh
//	busybox:1.35-b   the same image under a second tag
//	httpserver:v1    hack/images/httpserver, a static Go HTTP server and client
//	pause:v1         hack/images/pause, the sandbox image of a kubelet node's
//	                 containerd (hack/kubelet-node.sh)
//
// --only busybox,httpserver,pause pushes some of them.
//
// With --conformance it builds instead the images the upstream e2e suite's
// node tests use, under the names and tags that suite asks for (see
// conformance.go).
package main

import (
	"archive/tar"
	"bytes"
	"crypto/rand"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/vk-containerd/vk-containerd/hack/ociimage"
)

// file is one entry of an image layer.
type file struct {
	path, link string // link: symlink target
	mode       int64
	data       []byte
	dir        bool
}

func main() {
	registry := flag.String("registry", "127.0.0.1:5000", "registry to push to (plain HTTP)")
	busybox := flag.String("busybox", "/bin/busybox", "static busybox binary (with --conformance: upstream's, see conformance.go)")
	repo := flag.String("repo", ".", "root of the vk-containerd checkout")
	conformance := flag.String("conformance", "", "build the e2e suite's images from this directory (agnhost, nnp, kitten/, nautilus/) instead")
	tools := flag.String("tools", "", "with --conformance: a tarball of the Debian root filesystem under agnhost (curl, netcat-openbsd, dig)")
	only := flag.String("only", "busybox,httpserver,pause", "which of the local cluster's images to push")
	flag.Parse()

	if *conformance != "" {
		if *tools == "" {
			log.Fatal("imagebuild: --conformance needs --tools")
		}
		if err := pushConformance(*registry, *busybox, *tools, *conformance); err != nil {
			log.Fatalf("imagebuild: %v", err)
		}
		return
	}

	want := map[string]bool{}
	for _, n := range strings.Split(*only, ",") {
		switch n {
		case "busybox", "httpserver", "pause":
			want[n] = true
		default:
			log.Fatalf("imagebuild: --only: unknown image %q (busybox, httpserver or pause)", n)
		}
	}

	if want["busybox"] {
		bb, err := busyboxImage(*busybox)
		if err != nil {
			log.Fatalf("imagebuild: busybox: %v", err)
		}
		push(*registry+"/busybox:1.35", bb)
		// A second tag of the same image, for tests that change a pod's image.
		push(*registry+"/busybox:1.35-b", bb)
		// And one with a layer of random bytes, new at each push, that no node
		// has yet: a pull of it always fetches, for tests that act mid-pull.
		fresh, err := freshImage(bb)
		if err != nil {
			log.Fatalf("imagebuild: busybox fresh: %v", err)
		}
		push(*registry+"/busybox:fresh", fresh)
	}

	if want["httpserver"] {
		hs, err := httpServerImage(*repo)
		if err != nil {
			log.Fatalf("imagebuild: httpserver: %v", err)
		}
		push(*registry+"/httpserver:v1", hs)
	}

	if want["pause"] {
		p, err := pauseImage(*repo)
		if err != nil {
			log.Fatalf("imagebuild: pause: %v", err)
		}
		push(*registry+"/pause:v1", p)
	}
}

func push(ref string, img v1.Image) {
	r, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		log.Fatalf("imagebuild: %v", err)
	}
	if err := remote.Write(r, img); err != nil {
		log.Fatalf("imagebuild: push %s: %v", ref, err)
	}
	d, _ := img.Digest()
	fmt.Printf("pushed %s@%s\n", ref, d)
}

// baseFiles are what every test image holds besides its program.
func baseFiles() []file {
	return []file{
		{path: "etc", dir: true, mode: 0o755},
		{path: "etc/passwd", mode: 0o644, data: []byte("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n")},
		{path: "etc/group", mode: 0o644, data: []byte("root:x:0:\nnogroup:x:65534:\n")},
		{path: "tmp", dir: true, mode: 0o1777},
		{path: "root", dir: true, mode: 0o700},
	}
}

// defaultPath is the PATH of every image that has a shell.
const defaultPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// busyboxFiles are baseFiles plus a static busybox with a /bin link for
// each of its applets.
func busyboxFiles(binary string) ([]file, error) {
	data, err := os.ReadFile(binary)
	if err != nil {
		return nil, err
	}
	out, err := exec.Command(binary, "--list").Output()
	if err != nil {
		return nil, fmt.Errorf("%s --list: %w", binary, err)
	}
	files := append(baseFiles(), file{path: "bin", dir: true, mode: 0o755}, file{path: "bin/busybox", mode: 0o755, data: data})
	for _, applet := range strings.Fields(string(out)) {
		if applet != "busybox" {
			files = append(files, file{path: "bin/" + applet, link: "busybox"})
		}
	}
	return files, nil
}

func busyboxImage(binary string) (v1.Image, error) {
	files, err := busyboxFiles(binary)
	if err != nil {
		return nil, err
	}
	return image(v1.Config{Cmd: []string{"sh"}, Env: []string{defaultPath}}, files)
}

// goProgram builds the static Go program of package pkg of the checkout at
// repo and returns the binary.
func goProgram(repo, pkg string) ([]byte, error) {
	dir, err := os.MkdirTemp("", "imagebuild")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	bin := filepath.Join(dir, "program")
	build := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w", "-o", bin, pkg)
	build.Dir = repo
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("go build %s: %v: %s", pkg, err, out)
	}
	return os.ReadFile(bin)
}

func httpServerImage(repo string) (v1.Image, error) {
	data, err := goProgram(repo, "./hack/images/httpserver")
	if err != nil {
		return nil, err
	}
	files := append(baseFiles(), file{path: "httpserver", mode: 0o755, data: data})
	return image(v1.Config{
		Entrypoint:   []string{"/httpserver"},
		Cmd:          []string{"serve"},
		ExposedPorts: map[string]struct{}{"8080/tcp": {}},
	}, files)
}

// pauseImage holds only /pause, as the upstream pause image does.
func pauseImage(repo string) (v1.Image, error) {
	data, err := goProgram(repo, "./hack/images/pause")
	if err != nil {
		return nil, err
	}
	return image(v1.Config{Entrypoint: []string{"/pause"}}, []file{{path: "pause", mode: 0o755, data: data}})
}

// freshImage is base with one more layer: a file of 1 MiB of random bytes.
func freshImage(base v1.Image) (v1.Image, error) {
	noise := make([]byte, 1<<20)
	if _, err := rand.Read(noise); err != nil {
		return nil, err
	}
	layer, err := layerOf([]file{{path: "noise", mode: 0o644, data: noise}})
	if err != nil {
		return nil, err
	}
	return mutate.AppendLayers(base, layer)
}

// image makes a one-layer image of files with the given config.
func image(cfg v1.Config, files []file) (v1.Image, error) {
	layer, err := layerOf(files)
	if err != nil {
		return nil, err
	}
	return ociimage.Of(cfg, layer)
}

// layerOf makes a layer of files. The same files give the same layer digest,
// so images that share a list share the layer in the registry and on nodes.
func layerOf(files []file) (v1.Layer, error) {
	layerTar, err := tarOf(files)
	if err != nil {
		return nil, err
	}
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerTar)), nil
	})
}

// tarOf writes files as a tar stream with fixed times, so the same inputs
// give the same layer digest.
func tarOf(files []file) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	epoch := time.Unix(0, 0)
	for _, f := range files {
		h := &tar.Header{Name: f.path, Mode: f.mode, ModTime: epoch, Format: tar.FormatPAX}
		switch {
		case f.dir:
			h.Typeflag, h.Name = tar.TypeDir, f.path+"/"
		case f.link != "":
			h.Typeflag, h.Linkname, h.Mode = tar.TypeSymlink, f.link, 0o777
		default:
			h.Typeflag, h.Size = tar.TypeReg, int64(len(f.data))
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if h.Typeflag == tar.TypeReg {
			if _, err := tw.Write(f.data); err != nil {
				return nil, err
			}
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
