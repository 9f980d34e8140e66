// Package ociimage makes images of layers for the image builders in hack/
// (hack/image, hack/imagebuild), which write them with go-containerregistry.
package ociimage

import (
	"runtime"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
)

// Of makes an image of layers, bottom first, with the runtime configuration
// cfg, for this machine's platform (containerd drops images whose config
// names none).
func Of(cfg v1.Config, layers ...v1.Layer) (v1.Image, error) {
	img, err := mutate.AppendLayers(empty.Image, layers...)
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.Architecture, cf.OS = runtime.GOARCH, "linux"
	cf.Config = cfg
	return mutate.ConfigFile(img, cf)
}
