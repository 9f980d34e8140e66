package main

import (
	"archive/tar"
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
)

// flatten reads an image's merged file system: path -> header and content.
func flatten(t *testing.T, img v1.Image) (map[string]*tar.Header, map[string]string) {
	t.Helper()
	rc := mutate.Extract(img)
	defer rc.Close()
	hdrs, data := map[string]*tar.Header{}, map[string]string{}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return hdrs, data
		}
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		hdrs[h.Name], data[h.Name] = h, string(b)
	}
}

func TestConformanceImages(t *testing.T) {
	const busybox = "/bin/busybox"
	if _, err := os.Stat(busybox); err != nil {
		t.Skip("needs Debian's busybox-static")
	}
	dir := t.TempDir()
	for name, data := range map[string]string{"agnhost": "agnhost-binary", "nnp": "nnp-binary",
		"kitten/kitten.jpg": "jpg", "kitten/data.json": `{"image": "kitten.jpg"}`,
		"nautilus/nautilus.jpg": "jpg", "nautilus/data.json": `{"image": "nautilus.jpg"}`} {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// The tools layer as mmdebstrap writes it: "./"-prefixed names.
	toolsTar, err := tarOf([]file{{path: "./usr", dir: true, mode: 0o755}, {path: "./usr/bin", dir: true, mode: 0o755},
		{path: "./usr/bin/nc.openbsd", mode: 0o755, data: []byte("nc")}, {path: "./bin", link: "usr/bin"}})
	if err != nil {
		t.Fatal(err)
	}
	tools := filepath.Join(dir, "tools.tar")
	if err := os.WriteFile(tools, toolsTar, 0o644); err != nil {
		t.Fatal(err)
	}
	images, err := conformanceImages(busybox, tools, dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, ref := range []string{"e2e-test-images/agnhost:2.66.1", "e2e-test-images/agnhost:2.55",
		"e2e-test-images/busybox:1.37.0-2", "e2e-test-images/kitten:1.8", "e2e-test-images/nginx:1.27.0-2",
		"e2e-test-images/nginx:1.28.0-2", "e2e-test-images/nonewprivs:1.4", "e2e-test-images/nonroot:1.5", "pause:3.10.2",
		"e2e-test-images/nautilus:1.8", "e2e-test-images/glibc-dns-testing:2.1.1"} {
		if images[ref] == nil {
			t.Errorf("no image %s", ref)
		}
	}

	hdrs, data := flatten(t, images["e2e-test-images/nonewprivs:1.4"])
	if h := hdrs["usr/local/bin/nnp"]; h == nil || h.Mode&0o7777 != 0o4755 || h.Uid != 0 {
		t.Errorf("nnp: %+v, want setuid root 04755", h)
	}

	hdrs, data = flatten(t, images["e2e-test-images/kitten:1.8"])
	if data["agnhost"] != "agnhost-binary" || hdrs["agnhost-2"].Linkname != "agnhost" {
		t.Errorf("kitten: agnhost %q, agnhost-2 -> %q", data["agnhost"], hdrs["agnhost-2"].Linkname)
	}
	for _, p := range []string{"usr/bin/nc.openbsd", "localhost.crt", "localhost.key", "data.json", "kitten.jpg"} {
		if hdrs[p] == nil {
			t.Errorf("kitten: no %s", p)
		}
	}
	if h := hdrs["bin"]; h == nil || h.Linkname != "usr/bin" {
		t.Errorf("kitten: bin is %+v, want the tools layer's link to usr/bin", h)
	}
	for p, want := range map[string]string{"etc/passwd": "user-defined-in-image:x:1000:",
		"etc/group": "group-defined-in-image:x:50000:", "etc/os-release": "Alpine Linux"} {
		if !strings.Contains(data[p], want) {
			t.Errorf("kitten %s = %q, want %q in it", p, data[p], want)
		}
	}

	_, data = flatten(t, images["e2e-test-images/nautilus:1.8"])
	if data["data.json"] != `{"image": "nautilus.jpg"}` || data["kitten.jpg"] != "" {
		t.Errorf("nautilus: data.json %q, kitten.jpg %q", data["data.json"], data["kitten.jpg"])
	}

	cf, err := images["e2e-test-images/busybox:1.37.0-2"].ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if len(cf.Config.Cmd) != 1 || cf.Config.Cmd[0] != "sh" || cf.OS != "linux" || cf.Architecture == "" {
		t.Errorf("busybox config: %+v", cf)
	}
}

func TestLocalhostCert(t *testing.T) {
	crt, key, err := localhostCert()
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.X509KeyPair(crt, key)
	if err != nil {
		t.Fatalf("the pair does not load as porter loads it: %v", err)
	}
	cert, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := cert.VerifyHostname("127.0.0.1"); err != nil {
		t.Error(err)
	}
	crt2, key2, err := localhostCert()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(crt, crt2) || !bytes.Equal(key, key2) {
		t.Error("two builds made different certificates: the images' digests would change at every push")
	}
}
