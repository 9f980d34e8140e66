package ctrd

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/containerd/containerd/v2/core/mount"
	"github.com/containerd/containerd/v2/core/snapshots"
	"github.com/containerd/errdefs"
	"github.com/moby/sys/mountinfo"
	"github.com/opencontainers/image-spec/identity"

	"github.com/vk-containerd/vk-containerd/internal/hostroot"
)

// gcRoot is containerd's label that keeps a snapshot from its garbage
// collector: a view belongs to no container or lease.
const gcRoot = "containerd.io/gc.root"

// MountImageView mounts a read-only view of the image's root filesystem at
// target (an image volume), under the snapshot key; a view already mounted
// there is left as it is, so this is safe to call again, after an agent
// restart too. The snapshotter's paths are the host's: an agent in a
// container, which sees the host's / at hostRoot, mounts them from there.
func (r *Runtime) MountImageView(ctx context.Context, image Image, key, target, hostRoot string) error {
	if mounted, err := mountinfo.Mounted(target); err == nil && mounted {
		return nil
	}
	img := image.handle
	if img == nil {
		var err error
		if img, err = r.client.GetImage(ctx, image.Ref); err != nil {
			return fmt.Errorf("image %s: %w", image.Ref, err)
		}
	}
	diffIDs, err := img.RootFS(ctx)
	if err != nil {
		return fmt.Errorf("layers of image %s: %w", image.Ref, err)
	}
	sn := r.client.SnapshotService("")
	labels := snapshots.WithLabels(map[string]string{gcRoot: time.Now().UTC().Format(time.RFC3339)})
	mounts, err := sn.View(ctx, key, identity.ChainID(diffIDs).String(), labels)
	if errdefs.IsAlreadyExists(err) {
		mounts, err = sn.Mounts(ctx, key)
	}
	if err != nil {
		return fmt.Errorf("view of image %s: %w", image.Ref, err)
	}
	if err := os.MkdirAll(target, 0o755); err != nil {
		return err
	}
	if err := mount.All(underRoot(mounts, hostRoot), target); err != nil {
		return fmt.Errorf("mount the view of image %s: %w", image.Ref, err)
	}
	return nil
}

// underRoot rewrites the host paths of a view's mounts (a bind's source, an
// overlay's lower directories) to where they are below hostRoot.
func underRoot(mounts []mount.Mount, hostRoot string) []mount.Mount {
	if hostRoot == "" {
		return mounts
	}
	out := make([]mount.Mount, len(mounts))
	for i, m := range mounts {
		m.Options = slices.Clone(m.Options)
		if m.Type == "bind" || slices.Contains(m.Options, "bind") || slices.Contains(m.Options, "rbind") {
			m.Source = hostroot.Path(hostRoot, m.Source)
		}
		for j, o := range m.Options {
			if dirs, ok := strings.CutPrefix(o, "lowerdir="); ok {
				parts := strings.Split(dirs, ":")
				for k := range parts {
					parts[k] = hostroot.Path(hostRoot, parts[k])
				}
				m.Options[j] = "lowerdir=" + strings.Join(parts, ":")
			}
		}
		out[i] = m
	}
	return out
}
