// Package hostinfo reads the facts about the host that a node reports: its
// resources (cpu, memory, disk) and its identity (OS image, kernel, machine id).
package hostinfo

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Resources are the host's capacity, in the units Kubernetes uses.
type Resources struct {
	CPUs             int
	MemoryBytes      int64
	EphemeralStorage int64 // bytes of the filesystem that holds the agent's root directory
}

// Identity is what the node reports in status.nodeInfo.
type Identity struct {
	OSImage         string
	KernelVersion   string
	OperatingSystem string
	Architecture    string
	MachineID       string
	SystemUUID      string
	BootID          string
}

// ReadResources reads cpu and memory of the host and the size of the
// filesystem that holds dir.
func ReadResources(dir string) (Resources, error) {
	mem, err := memTotal("/proc/meminfo")
	if err != nil {
		return Resources{}, err
	}
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return Resources{}, fmt.Errorf("statfs %s: %w", dir, err)
	}
	return Resources{
		CPUs:             runtime.NumCPU(),
		MemoryBytes:      mem,
		EphemeralStorage: int64(st.Blocks) * st.Bsize,
	}, nil
}

// memTotal parses MemTotal (kB) out of a meminfo file.
func memTotal(path string) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		fields := strings.Fields(s.Text())
		if len(fields) >= 2 && fields[0] == "MemTotal:" {
			kb, err := strconv.ParseInt(fields[1], 10, 64)
			if err != nil {
				return 0, fmt.Errorf("%s: bad MemTotal %q: %w", path, fields[1], err)
			}
			return kb * 1024, nil
		}
	}
	if err := s.Err(); err != nil {
		return 0, err
	}
	return 0, fmt.Errorf("%s: no MemTotal line", path)
}

// ReadIdentity reads the host's OS, kernel and ids. Missing ids are left empty:
// a container host without /etc/machine-id is still a valid node.
func ReadIdentity() Identity {
	id := Identity{
		OperatingSystem: runtime.GOOS,
		Architecture:    runtime.GOARCH,
		OSImage:         osImage("/etc/os-release"),
		MachineID:       firstLine("/etc/machine-id"),
		SystemUUID:      firstLine("/sys/class/dmi/id/product_uuid"),
		BootID:          firstLine("/proc/sys/kernel/random/boot_id"),
	}
	var u unix.Utsname
	if err := unix.Uname(&u); err == nil {
		id.KernelVersion = string(bytes.TrimRight(u.Release[:], "\x00"))
	}
	return id
}

// osImage returns PRETTY_NAME from an os-release file, as the kubelet does.
func osImage(path string) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return "Unknown"
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "PRETTY_NAME="); ok {
			return strings.Trim(v, `"'`)
		}
	}
	return "Unknown"
}

func firstLine(path string) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	line, _, _ := strings.Cut(string(data), "\n")
	return strings.TrimSpace(line)
}

// BootTime reads when the host booted (btime in /proc/stat); zero if unknown.
func BootTime() time.Time {
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return time.Time{}
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "btime "); ok {
			if sec, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64); err == nil {
				return time.Unix(sec, 0)
			}
		}
	}
	return time.Time{}
}
