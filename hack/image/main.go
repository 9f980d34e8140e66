// Command image builds the agent's container image without Docker: a layer of
// Debian's packages (a rootfs tarball that image.sh makes with mmdebstrap) and
// a layer with the agent and the CNI plugins, the same files as the
// Dockerfile's final stage (layout.go). make image runs it through image.sh.
//
//	image list suite|packages|cni-plugins   what image.sh builds, one a line
//	image ping REGISTRY                     fails unless REGISTRY answers
//	image build -rootfs TAR -agent BIN -cni-dir DIR -registry R -version V -archive TAR
//	    pushes R/vk-containerd:V, writes a docker-archive tarball of it and
//	    prints "image: R/vk-containerd:V" on stdout
//	image assemble -layer TAR [-layer TAR...] -ref REF (-archive TAR | -push) [-entrypoint JSON]
//	    [-cmd JSON] [-env K=V...] [-stop-signal SIG]
//	    stacks layer tarballs (bottom first) into the image REF and writes it as a
//	    docker-archive tarball (the kind node image and the images it holds,
//	    hack/kind), or pushes it to REF's registry over plain HTTP (the local
//	    cluster's add-ons, hack/addons)
package main

import (
	"archive/tar"
	"bytes"
	"debug/elf"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/vk-containerd/vk-containerd/hack/ociimage"
)

func main() {
	if len(os.Args) < 2 {
		fail(errors.New("usage: image list|ping|build ..."))
	}
	var err error
	switch cmd, args := os.Args[1], os.Args[2:]; cmd {
	case "list":
		err = list(args)
	case "ping":
		err = ping(args)
	case "build":
		err = build(args)
	case "assemble":
		err = assemble(args)
	default:
		err = fmt.Errorf("unknown command %q", cmd)
	}
	if err != nil {
		fail(err)
	}
}

// logf prints a progress line to stderr, as hack/lib.sh's log does.
func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "[%s] %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

// fail prints one error line, as hack/lib.sh's die does, and exits.
func fail(err error) {
	fmt.Fprintln(os.Stderr, "error:", err)
	os.Exit(1)
}

func list(args []string) error {
	if len(args) != 1 {
		return errors.New("usage: image list suite|packages|cni-plugins")
	}
	var out []string
	switch args[0] {
	case "suite":
		out = []string{suite}
	case "packages":
		out = packages
	case "cni-plugins":
		out = cniPackages()
	default:
		return fmt.Errorf("list: unknown table %q", args[0])
	}
	fmt.Println(strings.Join(out, "\n"))
	return nil
}

// ping checks that a registry answers at /v2/ over plain HTTP, so that a
// missing registry fails the build before the long steps rather than after.
func ping(args []string) error {
	if len(args) != 1 {
		return errors.New("usage: image ping REGISTRY")
	}
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get("http://" + args[0] + "/v2/")
	if err != nil {
		return fmt.Errorf("no registry answers at %s: run `make up` first (or set IMAGE_REGISTRY)", args[0])
	}
	resp.Body.Close()
	return nil
}

func build(args []string) error {
	fs := flag.NewFlagSet("build", flag.ExitOnError)
	rootfs := fs.String("rootfs", "", "tarball of Debian's packages (the bottom layer)")
	agent := fs.String("agent", "", "vk-containerd binary (static, or linking only the C library)")
	cniDir := fs.String("cni-dir", "", "directory of the static CNI plugins")
	registry := fs.String("registry", "127.0.0.1:5000", "registry to push to (plain HTTP); localhost: no push")
	version := fs.String("version", "", "the image's tag and version label")
	archive := fs.String("archive", "", "docker-archive tarball to write")
	fs.Parse(args)
	if *rootfs == "" || *agent == "" || *cniDir == "" || *version == "" || *archive == "" {
		return errors.New("build: -rootfs, -agent, -cni-dir, -version and -archive are required")
	}
	tag, err := name.NewTag(*registry+"/vk-containerd:"+*version, name.Insecure)
	if err != nil {
		return err
	}

	// Caching keeps the push and the archive from compressing the layer again.
	base, err := tarball.LayerFromFile(*rootfs, tarball.WithCompressedCaching)
	if err != nil {
		return err
	}
	own, err := ownLayer(files(*agent, *cniDir))
	if err != nil {
		return err
	}
	img, err := ociimage.Of(v1.Config{Entrypoint: entrypoint, Env: []string{pathEnv}, Labels: labels(*version)}, base, own)
	if err != nil {
		return err
	}

	if *registry != "localhost" { // localhost names an image of the archive only
		logf("pushing %s", tag)
		if err := remote.Write(tag, img); err != nil {
			return fmt.Errorf("push %s: %w", tag, err)
		}
	}
	logf("writing %s", *archive)
	if err := writeArchive(*archive, tag, img); err != nil {
		return err
	}
	d, _ := img.Digest()
	logf("%s is %s", tag, d)
	fmt.Println("image:", tag)
	return nil
}

// repeated is a flag given any number of times.
type repeated []string

func (r *repeated) String() string     { return strings.Join(*r, ",") }
func (r *repeated) Set(v string) error { *r = append(*r, v); return nil }

func assemble(args []string) error {
	fs := flag.NewFlagSet("assemble", flag.ExitOnError)
	var layers, env repeated
	fs.Var(&layers, "layer", "a layer tarball, bottom first; repeat")
	fs.Var(&env, "env", "K=V in the image's environment; repeat")
	ref := fs.String("ref", "", "the image's reference")
	archive := fs.String("archive", "", "docker-archive tarball to write")
	push := fs.Bool("push", false, "push to REF's registry (plain HTTP) instead of writing an archive")
	entry := fs.String("entrypoint", "", "entrypoint, a JSON array")
	cmd := fs.String("cmd", "", "command, a JSON array")
	stop := fs.String("stop-signal", "", "the signal that stops the image's process")
	fs.Parse(args)
	if len(layers) == 0 || *ref == "" || (*archive == "") == !*push {
		return errors.New("assemble: -layer, -ref and one of -archive and -push are required")
	}
	tag, err := name.NewTag(*ref, name.Insecure)
	if err != nil {
		return err
	}
	var stack []v1.Layer
	for _, l := range layers {
		layer, err := tarball.LayerFromFile(l, tarball.WithCompressedCaching)
		if err != nil {
			return err
		}
		stack = append(stack, layer)
	}
	cfg := v1.Config{Env: append([]string{pathEnv}, env...), StopSignal: *stop}
	for _, a := range []struct {
		flag, value string
		to          *[]string
	}{{"-entrypoint", *entry, &cfg.Entrypoint}, {"-cmd", *cmd, &cfg.Cmd}} {
		if a.value != "" {
			if err := json.Unmarshal([]byte(a.value), a.to); err != nil {
				return fmt.Errorf("%s %s: want a JSON array of strings: %w", a.flag, a.value, err)
			}
		}
	}
	img, err := ociimage.Of(cfg, stack...)
	if err != nil {
		return err
	}
	if *push {
		if err := remote.Write(tag, img); err != nil {
			return fmt.Errorf("push %s: %w", tag, err)
		}
		logf("%s pushed", tag)
		return nil
	}
	if err := writeArchive(*archive, tag, img); err != nil {
		return err
	}
	logf("%s written to %s", tag, *archive)
	return nil
}

// writeArchive writes img as a docker-archive tarball (podman load, kind load
// image-archive) through a temporary file, so a failed write leaves no half
// archive behind.
func writeArchive(path string, tag name.Tag, img v1.Image) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := tarball.WriteToFile(tmp, tag, img); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, err)
	}
	return os.Rename(tmp, path)
}

// ownLayer makes the layer of the image's own files and their parent
// directories, owned by root with a fixed time, so that the same binaries give
// the same digest and a rebuild pushes nothing new.
func ownLayer(entries []entry) (v1.Layer, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	epoch := time.Unix(0, 0)
	dirs := map[string]bool{}
	for _, e := range entries {
		data, err := os.ReadFile(e.from)
		if err != nil {
			return nil, err
		}
		if err := checkLinks(e.from, data); err != nil {
			return nil, err
		}
		rel := strings.TrimPrefix(e.path, "/")
		for _, d := range parents(rel) {
			if dirs[d] {
				continue
			}
			dirs[d] = true
			h := &tar.Header{Typeflag: tar.TypeDir, Name: d + "/", Mode: 0o755, ModTime: epoch, Format: tar.FormatPAX}
			if err := tw.WriteHeader(h); err != nil {
				return nil, err
			}
		}
		h := &tar.Header{Typeflag: tar.TypeReg, Name: rel, Mode: 0o755, Size: int64(len(data)), ModTime: epoch, Format: tar.FormatPAX}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if _, err := tw.Write(data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(buf.Bytes())), nil
	}, tarball.WithCompressedCaching)
}

// parents lists the directories above a relative path, outermost first:
// "usr/local/bin/x" gives usr, usr/local, usr/local/bin.
func parents(p string) []string {
	var out []string
	for i, c := range p {
		if c == '/' {
			out = append(out, p[:i])
		}
	}
	return out
}

// checkLinks refuses a binary that needs a library other than the C
// library: the Debian layer has libc6 and nothing else a program could link
// (say, a CGO build of a plugin taken from the local cluster's cache by
// mistake, linked against the host's libseccomp).
func checkLinks(path string, data []byte) error {
	f, err := elf.NewFile(bytes.NewReader(data))
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	defer f.Close()
	libs, err := f.ImportedLibraries()
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	for _, l := range libs {
		if l != "libc.so.6" {
			return fmt.Errorf("%s links %s, which the image lacks; build it with CGO_ENABLED=0", path, l)
		}
	}
	return nil
}
