package crilog

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"sync"

	"github.com/containerd/containerd/v2/core/runtime/v2/logging"
)

// DriverArg is the first argument with which the shim runs the agent's own
// binary as a container's log driver; the second carries DriverConfig.
const DriverArg = "log-driver"

// DriverConfig says where and how a log driver writes.
type DriverConfig struct {
	Path     string
	MaxSize  int64
	MaxFiles int
}

// URI returns the containerd "binary://" log URI that makes the shim run
// binary as the log driver of a container. The shim keeps the driver running
// on its own, so logs are written while the agent is down.
func (c DriverConfig) URI(binary string) (*url.URL, error) {
	if !filepath.IsAbs(binary) || !filepath.IsAbs(c.Path) {
		return nil, fmt.Errorf("log driver binary %q and log path %q must be absolute", binary, c.Path)
	}
	cfg := url.Values{}
	cfg.Set("path", c.Path)
	cfg.Set("max-size", strconv.FormatInt(c.MaxSize, 10))
	cfg.Set("max-files", strconv.Itoa(c.MaxFiles))
	q := url.Values{}
	// One query key: the shim passes each key and value as arguments, in
	// map order, so one key keeps the argument order fixed.
	q.Set(DriverArg, cfg.Encode())
	return &url.URL{Scheme: "binary", Path: binary, RawQuery: q.Encode()}, nil
}

// ParseDriverConfig reads the argument the shim passes after DriverArg.
func ParseDriverConfig(arg string) (DriverConfig, error) {
	v, err := url.ParseQuery(arg)
	if err != nil {
		return DriverConfig{}, err
	}
	c := DriverConfig{Path: v.Get("path")}
	if c.Path == "" {
		return c, fmt.Errorf("log driver: no path in %q", arg)
	}
	c.MaxSize, _ = strconv.ParseInt(v.Get("max-size"), 10, 64)
	c.MaxFiles, _ = strconv.Atoi(v.Get("max-files"))
	return c, nil
}

// RunDriver is the log driver's main: it copies the container's stdout and
// stderr (handed over by the shim) into the CRI log file until both close.
func RunDriver(arg string) {
	cfg, err := ParseDriverConfig(arg)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	logging.Run(func(_ context.Context, c *logging.Config, ready func() error) error {
		w, err := NewWriter(cfg.Path, cfg.MaxSize, cfg.MaxFiles)
		if err != nil {
			return err
		}
		defer w.Close()
		if err := ready(); err != nil {
			return err
		}
		var wg sync.WaitGroup
		wg.Add(2)
		go func() { defer wg.Done(); _ = w.Copy("stdout", c.Stdout) }()
		go func() { defer wg.Done(); _ = w.Copy("stderr", c.Stderr) }()
		wg.Wait()
		return nil
	})
}
