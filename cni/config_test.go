package cni

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const bridgeList = `{"cniVersion":"1.0.0","name":"pods","plugins":[{"type":"bridge"},{"type":"loopback"}]}`

func writeFile(t *testing.T, path, data string, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(data), mode); err != nil {
		t.Fatal(err)
	}
}

func fakePlugins(t *testing.T, names ...string) string {
	dir := t.TempDir()
	for _, n := range names {
		writeFile(t, filepath.Join(dir, n), "#!/bin/sh\n", 0o755)
	}
	return dir
}

func TestLoadNetworkPicksFirstFile(t *testing.T) {
	conf := t.TempDir()
	writeFile(t, filepath.Join(conf, "20-other.conflist"), strings.Replace(bridgeList, `"pods"`, `"other"`, 1), 0o644)
	writeFile(t, filepath.Join(conf, "10-pods.conflist"), bridgeList, 0o644)
	list, err := LoadNetwork(conf, []string{fakePlugins(t, "bridge", "loopback")})
	if err != nil {
		t.Fatal(err)
	}
	if list.Name != "pods" || len(list.Plugins) != 2 {
		t.Fatalf("loaded %q with %d plugins, want pods with 2", list.Name, len(list.Plugins))
	}
}

func TestLoadNetworkSingleConf(t *testing.T) {
	conf := t.TempDir()
	writeFile(t, filepath.Join(conf, "10-pods.conf"), `{"cniVersion":"1.0.0","name":"pods","type":"bridge"}`, 0o644)
	list, err := LoadNetwork(conf, []string{fakePlugins(t, "bridge")})
	if err != nil {
		t.Fatal(err)
	}
	if list.Name != "pods" || len(list.Plugins) != 1 || list.Plugins[0].Network.Type != "bridge" {
		t.Fatalf("unexpected list %+v", list)
	}
}

func TestLoadNetworkErrors(t *testing.T) {
	bins := fakePlugins(t, "bridge")
	empty := t.TempDir()
	broken := t.TempDir()
	writeFile(t, filepath.Join(broken, "10.conflist"), "{not json", 0o644)
	noPlugin := t.TempDir()
	writeFile(t, filepath.Join(noPlugin, "10.conflist"), bridgeList, 0o644)

	for _, tc := range []struct {
		name, dir, want string
	}{
		{"missing dir", filepath.Join(empty, "nope"), "does not exist"},
		{"empty dir", empty, "no CNI network configuration"},
		{"bad json", broken, "10.conflist"},
		{"missing plugin", noPlugin, `plugin "loopback" not found`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := LoadNetwork(tc.dir, []string{bins})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}
