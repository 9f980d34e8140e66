// Command httpserver is the test image's program: "serve" answers HTTP on
// a port with the pod's hostname; "get URL" fetches a URL and prints the body.
package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	args := os.Args[1:]
	if len(args) == 0 {
		args = []string{"serve"}
	}
	switch args[0] {
	case "serve":
		port := os.Getenv("PORT")
		if len(args) > 1 {
			port = args[1]
		}
		if port == "" {
			port = "8080"
		}
		os.Exit(serve(":" + port))
	case "get":
		if len(args) != 2 {
			fmt.Fprintln(os.Stderr, "usage: httpserver get URL")
			os.Exit(2)
		}
		os.Exit(get(args[1]))
	default:
		fmt.Fprintf(os.Stderr, "unknown command %q; use serve [PORT] or get URL\n", args[0])
		os.Exit(2)
	}
}

func serve(addr string) int {
	host, _ := os.Hostname()
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello from %s\n", host)
	})
	srv := &http.Server{Addr: addr, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	fmt.Printf("serving on %s\n", addr)
	if err := srv.ListenAndServe(); err != nil && err != http.ErrServerClosed {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

func get(url string) int {
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer resp.Body.Close()
	_, _ = io.Copy(os.Stdout, resp.Body)
	if resp.StatusCode != http.StatusOK {
		return 1
	}
	return 0
}
