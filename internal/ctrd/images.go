package ctrd

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/remotes/docker"
	"github.com/containerd/containerd/v2/core/remotes/docker/config"
	"github.com/containerd/errdefs"
	"github.com/distribution/reference"
	imagespec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sync/singleflight"
)

// Credentials maps a registry host to a user name and password.
type Credentials map[string]Credential

// Credential is one registry login.
type Credential struct{ Username, Password string }

// Images pulls images through containerd. Concurrent pulls of one reference
// are done once.
type Images struct {
	rt       *Runtime
	hostsDir string // containerd's certs.d layout; empty: defaults (HTTPS)
	pulls    singleflight.Group
}

// NewImages returns an image puller that reads registry hosts from hostsDir.
func NewImages(rt *Runtime, hostsDir string) *Images {
	return &Images{rt: rt, hostsDir: hostsDir}
}

// NormalizeRef returns the fully qualified form of an image reference
// (busybox -> docker.io/library/busybox:latest).
func NormalizeRef(ref string) (string, error) {
	named, err := reference.ParseDockerRef(ref)
	if err != nil {
		return "", classify(ErrInvalidImageName, fmt.Errorf("invalid image name %q: %w", ref, err))
	}
	return named.String(), nil
}

// Image is an image present on the node: what a container is created from.
type Image struct {
	Ref    string                // the normalized reference it was asked for by
	Digest string                // the digest of its manifest (or index)
	Config imagespec.ImageConfig // its config: command, env, user, working dir
	handle client.Image          // nil for an Image made outside this package
}

// newImage reads what the worker needs of img.
func newImage(ctx context.Context, ref string, img client.Image) (Image, error) {
	spec, err := img.Spec(ctx)
	if err != nil {
		return Image{}, classify(ErrImageConfig, fmt.Errorf("read image config of %s: %w", ref, err))
	}
	return Image{Ref: ref, Digest: img.Target().Digest.String(), Config: spec.Config, handle: img}, nil
}

// Get returns the image if it is present on the node; else the error wraps
// ErrImageNotFound.
func (i *Images) Get(ctx context.Context, ref string) (Image, error) {
	img, err := i.rt.client.GetImage(ctx, ref)
	if errdefs.IsNotFound(err) {
		return Image{}, classify(ErrImageNotFound, err)
	}
	if err != nil {
		return Image{}, err
	}
	return newImage(ctx, ref, img)
}

// Pull fetches and unpacks ref (already normalized) and reports how long it
// took. Its errors wrap ErrPull.
func (i *Images) Pull(ctx context.Context, ref string, creds Credentials) (Image, time.Duration, error) {
	start := time.Now()
	v, err, _ := i.pulls.Do(ref, func() (interface{}, error) {
		resolver := docker.NewResolver(docker.ResolverOptions{
			Hosts: config.ConfigureHosts(ctx, config.HostOptions{
				HostDir:     i.hostDir,
				Credentials: creds.lookup,
			}),
		})
		return i.rt.client.Pull(ctx, ref, client.WithPullUnpack, client.WithResolver(resolver))
	})
	if err != nil {
		return Image{}, time.Since(start), classify(ErrPull, err)
	}
	img, err := newImage(ctx, ref, v.(client.Image))
	return img, time.Since(start), err
}

func (i *Images) hostDir(host string) (string, error) {
	if i.hostsDir == "" {
		return "", errdefs.ErrNotFound
	}
	return config.HostDirFromRoot(i.hostsDir)(host)
}

func (c Credentials) lookup(host string) (string, string, error) {
	if cred, ok := c[host]; ok {
		return cred.Username, cred.Password, nil
	}
	if host == "registry-1.docker.io" {
		if cred, ok := c["docker.io"]; ok {
			return cred.Username, cred.Password, nil
		}
	}
	return "", "", nil
}

// ParseDockerConfigJSON reads the registry logins of a
// kubernetes.io/dockerconfigjson secret's .dockerconfigjson value, or of a
// kubernetes.io/dockercfg secret's .dockercfg value.
func ParseDockerConfigJSON(data []byte, into Credentials) error {
	type entry struct {
		Username string `json:"username"`
		Password string `json:"password"`
		Auth     string `json:"auth"`
	}
	var cfg struct {
		Auths map[string]entry `json:"auths"`
	}
	if err := json.Unmarshal(data, &cfg); err != nil {
		return fmt.Errorf("parse docker config: %w", err)
	}
	if cfg.Auths == nil { // the older .dockercfg form has the map at the top
		if err := json.Unmarshal(data, &cfg.Auths); err != nil {
			return fmt.Errorf("parse docker config: %w", err)
		}
	}
	for server, e := range cfg.Auths {
		if e.Auth != "" && e.Username == "" {
			raw, err := base64.StdEncoding.DecodeString(e.Auth)
			if err != nil {
				return fmt.Errorf("docker config entry %s: bad auth: %w", server, err)
			}
			e.Username, e.Password, _ = strings.Cut(string(raw), ":")
		}
		into[registryHost(server)] = Credential{Username: e.Username, Password: e.Password}
	}
	return nil
}

// registryHost reduces a docker config key (which may be a URL) to a host.
func registryHost(server string) string {
	s := strings.TrimPrefix(strings.TrimPrefix(server, "https://"), "http://")
	s, _, _ = strings.Cut(s, "/")
	if s == "index.docker.io" {
		return "docker.io"
	}
	return s
}
