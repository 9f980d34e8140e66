// Command registry serves an OCI registry on a loopback address for the local
// cluster. Blobs are kept on disk; manifests live in memory, so images are
// pushed again (by hack/imagebuild) each time the registry starts.
package main

import (
	"flag"
	"log"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/google/go-containerregistry/pkg/registry"
)

func main() {
	addr := flag.String("address", "127.0.0.1:5000", "listen address; keep it on loopback")
	dir := flag.String("blob-dir", "", "directory for blobs (required)")
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
	log.Printf("registry: serving on %s, blobs in %s", l.Addr(), *dir)
	srv := &http.Server{
		Handler:           registry.New(registry.WithBlobHandler(registry.NewDiskBlobHandler(*dir))),
		ReadHeaderTimeout: 10 * time.Second,
	}
	log.Fatal(srv.Serve(l))
}
