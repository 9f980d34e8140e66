// Package pressure decides the node's pressure conditions from the host's
// figures, with the kubelet's default hard eviction thresholds. A condition
// turns true as soon as a threshold is crossed and false only once the
// figures have stayed below it for the transition period, so a node near a
// threshold does not flap.
package pressure

import (
	"fmt"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// The kubelet's default hard eviction thresholds for the node's filesystem.
const (
	minAvailableFraction  = 0.10 // nodefs.available<10%
	minInodesFreeFraction = 0.05 // nodefs.inodesFree<5%
)

// FS is what the monitor reads of a filesystem.
type FS struct {
	Bytes, AvailableBytes int64
	Inodes, FreeInodes    int64
}

// Statfs reads FS of the filesystem that holds path.
func Statfs(path string) (FS, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return FS{}, fmt.Errorf("statfs %s: %w", path, err)
	}
	bs := int64(st.Bsize)
	return FS{
		Bytes: int64(st.Blocks) * bs, AvailableBytes: int64(st.Bavail) * bs,
		Inodes: int64(st.Files), FreeInodes: int64(st.Ffree),
	}, nil
}

// Disk watches the filesystem of the node's root directory.
type Disk struct {
	read       func() (FS, error)
	transition time.Duration

	mu          sync.Mutex
	under       bool      // the condition as reported
	lastCrossed time.Time // when the figures were last past a threshold
	why         string
}

// NewDisk watches the filesystem read reads; transition is the kubelet's
// --eviction-pressure-transition-period.
func NewDisk(read func() (FS, error), transition time.Duration) *Disk {
	return &Disk{read: read, transition: transition}
}

// Check reads the filesystem and returns whether the node is under disk
// pressure, and why. A filesystem that cannot be read leaves the condition
// as it was.
func (d *Disk) Check(now time.Time) (bool, string, error) {
	fs, err := d.read()
	d.mu.Lock()
	defer d.mu.Unlock()
	if err != nil {
		return d.under, d.why, err
	}
	if why := crossed(fs); why != "" {
		d.under, d.lastCrossed, d.why = true, now, why
	} else if d.under && now.Sub(d.lastCrossed) >= d.transition {
		d.under, d.why = false, ""
	}
	return d.under, d.why, nil
}

// Under reports the condition as the last Check found it.
func (d *Disk) Under() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.under
}

// crossed names the threshold fs is past, or returns "".
func crossed(fs FS) string {
	if fs.Bytes > 0 && float64(fs.AvailableBytes) < minAvailableFraction*float64(fs.Bytes) {
		return fmt.Sprintf("nodefs.available %d of %d bytes, under 10%%", fs.AvailableBytes, fs.Bytes)
	}
	if fs.Inodes > 0 && float64(fs.FreeInodes) < minInodesFreeFraction*float64(fs.Inodes) {
		return fmt.Sprintf("nodefs.inodesFree %d of %d, under 5%%", fs.FreeInodes, fs.Inodes)
	}
	return ""
}
