// Command registry serves an OCI registry on a loopback address for the local
// cluster. Blobs are kept on disk; manifests live in memory, so images are
// pushed again (by hack/imagebuild) each time the registry starts. With
// --auth-address it serves the same images a second time behind HTTP basic
// authentication, to test imagePullSecrets.
package main

import (
	"crypto/subtle"
	"flag"
	"log"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/registry"
)

func main() {
	addr := flag.String("address", "127.0.0.1:5000", "listen address; keep it on loopback")
	dir := flag.String("blob-dir", "", "directory for blobs (required)")
	authAddr := flag.String("auth-address", "", "second listen address that requires basic auth; keep it on loopback")
	auth := flag.String("auth", "", "user:password for --auth-address")
	flag.Parse()
	if *dir == "" {
		log.Fatal("registry: --blob-dir is required")
	}
	if err := os.MkdirAll(*dir, 0o755); err != nil {
		log.Fatalf("registry: %v", err)
	}
	l, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatalf("registry: %v", err)
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
	log.Printf("registry: serving on %s, blobs in %s", l.Addr(), *dir)
	log.Fatal(serve(l, handler))
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
