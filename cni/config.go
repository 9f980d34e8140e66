// Package cni gives pods their network: it loads the CNI network
// configuration, pins network namespaces, and runs CNI ADD, CHECK and DEL
// through libcni.
package cni

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/containernetworking/cni/libcni"
)

// LoadNetwork returns the network that pods join: the first configuration file
// in confDir in lexical order (.conflist, .conf or .json), as the kubelet and
// containerd choose it. Every plugin it names must exist in one of binDirs.
func LoadNetwork(confDir string, binDirs []string) (*libcni.NetworkConfigList, error) {
	if _, err := os.Stat(confDir); errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("CNI configuration directory %s does not exist: create it with a .conflist or set --cni-conf-dir", confDir)
	}
	files, err := libcni.ConfFiles(confDir, []string{".conflist", ".conf", ".json"})
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("CNI configuration directory %s does not exist: create it with a .conflist or set --cni-conf-dir", confDir)
	case err != nil:
		return nil, fmt.Errorf("read CNI configuration directory %s: %w", confDir, err)
	case len(files) == 0:
		return nil, fmt.Errorf("no CNI network configuration in %s: add a .conflist file there or set --cni-conf-dir", confDir)
	}
	// ConfFiles lists in directory order, which os.ReadDir sorts by name.
	return LoadFile(files[0], binDirs)
}

// LoadFile loads one network configuration file; every plugin it names
// must exist in one of binDirs.
func LoadFile(file string, binDirs []string) (*libcni.NetworkConfigList, error) {
	list, err := loadFile(file)
	if err != nil {
		return nil, fmt.Errorf("CNI configuration %s: %w", file, err)
	}
	for _, p := range list.Plugins {
		if _, err := findPlugin(p.Network.Type, binDirs); err != nil {
			return nil, fmt.Errorf("CNI configuration %s: %w", file, err)
		}
	}
	return list, nil
}

func loadFile(file string) (*libcni.NetworkConfigList, error) {
	if strings.HasSuffix(file, ".conflist") {
		return libcni.ConfListFromFile(file)
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	conf, err := libcni.NetworkPluginConfFromBytes(data)
	if err != nil {
		return nil, err
	}
	if conf.Network.Type == "" {
		return nil, errors.New("plugin has no type")
	}
	return libcni.ConfListFromConf(conf)
}

// findPlugin returns the path of the plugin binary named typ.
func findPlugin(typ string, binDirs []string) (string, error) {
	for _, dir := range binDirs {
		p := filepath.Join(dir, typ)
		if info, err := os.Stat(p); err == nil && !info.IsDir() && info.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("CNI plugin %q not found in %s: install it or set --cni-bin-dir", typ, strings.Join(binDirs, ":"))
}
