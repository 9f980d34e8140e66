// Command registry serves an OCI registry on a loopback address for the local
// cluster (and on the host link's, for its nodes in network namespaces of
// their own). Blobs are kept on disk; manifests live in memory, so images are
// pushed again (by hack/imagebuild) each time the registry starts. With
// --auth-address it serves the same images a second time behind HTTP basic
// authentication, to test imagePullSecrets, and with --slow-address a third
// time with blobs sent at --slow-rate, so a test can act while a pull is
// under way.
package main

import (
	"crypto/subtle"
	"flag"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/registry"
)

func main() {
	addrs := flag.String("address", "127.0.0.1:5000", "listen addresses, comma separated; keep them on this machine (loopback, a host-only link)")
	dir := flag.String("blob-dir", "", "directory for blobs (required)")
	authAddr := flag.String("auth-address", "", "second listen address that requires basic auth; keep it on loopback")
	auth := flag.String("auth", "", "user:password for --auth-address")
	slowAddr := flag.String("slow-address", "", "third listen address that sends blobs slowly; keep it on loopback")
	slowRate := flag.Int("slow-rate", 16<<10, "bytes per second of blobs on --slow-address")
	flag.Parse()
	if *dir == "" {
		log.Fatal("registry: --blob-dir is required")
	}
	if err := os.MkdirAll(*dir, 0o755); err != nil {
		log.Fatalf("registry: %v", err)
	}
	var listeners []net.Listener
	for _, addr := range strings.Split(*addrs, ",") {
		l, err := net.Listen("tcp", addr)
		if err != nil {
			log.Fatalf("registry: %v", err)
		}
		listeners = append(listeners, l)
	}
	handler := registry.New(registry.WithBlobHandler(registry.NewDiskBlobHandler(*dir)))
	if *authAddr != "" {
		user, pass, ok := strings.Cut(*auth, ":")
		if !ok {
			log.Fatal("registry: --auth must be user:password")
		}
		al, err := net.Listen("tcp", *authAddr)
		if err != nil {
			log.Fatalf("registry: %v", err)
		}
		log.Printf("registry: serving with basic auth on %s", al.Addr())
		go func() { log.Fatal(serve(al, basicAuth(user, pass, handler))) }()
	}
	if *slowAddr != "" {
		sl, err := net.Listen("tcp", *slowAddr)
		if err != nil {
			log.Fatalf("registry: %v", err)
		}
		log.Printf("registry: serving blobs at %d bytes/s on %s", *slowRate, sl.Addr())
		go func() { log.Fatal(serve(sl, throttled(*slowRate, handler))) }()
	}
	for _, l := range listeners[1:] {
		log.Printf("registry: serving on %s", l.Addr())
		go func() { log.Fatal(serve(l, handler)) }()
	}
	log.Printf("registry: serving on %s, blobs in %s", listeners[0].Addr(), *dir)
	log.Fatal(serve(listeners[0], handler))
}

func serve(l net.Listener, h http.Handler) error {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	return srv.Serve(l)
}

// basicAuth answers 401 with a Basic challenge unless the request carries
// the expected user and password.
func basicAuth(user, pass string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, p, ok := r.BasicAuth()
		if !ok || subtle.ConstantTimeCompare([]byte(u), []byte(user)) != 1 || subtle.ConstantTimeCompare([]byte(p), []byte(pass)) != 1 {
			w.Header().Set("WWW-Authenticate", `Basic realm="vk-containerd-local"`)
			http.Error(w, "authentication required", http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// throttled sends blob bodies at rate bytes per second; manifests go at
// full speed, so a client resolves the image at once and then waits.
func throttled(rate int, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/blobs/") {
			w = &slowWriter{ResponseWriter: w, rate: rate}
		}
		next.ServeHTTP(w, r)
	})
}

// slowWriter writes in chunks of a tenth of the rate, a tenth of a second apart.
type slowWriter struct {
	http.ResponseWriter
	rate int
}

func (s *slowWriter) Write(p []byte) (int, error) {
	chunk := max(s.rate/10, 1)
	n := 0
	for len(p) > 0 {
		c := min(chunk, len(p))
		m, err := s.ResponseWriter.Write(p[:c])
		n += m
		if err != nil {
			return n, err
		}
		if f, ok := s.ResponseWriter.(http.Flusher); ok {
			f.Flush()
		}
		p = p[c:]
		time.Sleep(100 * time.Millisecond)
	}
	return n, nil
}

// ReadFrom keeps io.Copy on Write, where the pace is set.
func (s *slowWriter) ReadFrom(r io.Reader) (int64, error) {
	return io.Copy(struct{ io.Writer }{s}, r)
}
