// oci-image writes a single-layer image archive that `ctr images import` and
// `docker load` accept, without a registry or a container engine: the layer is a tar
// made by the caller, the config names the platform (containerd drops images that do
// not) and the entrypoint.
package main

import (
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

type list []string

func (l *list) String() string     { return strings.Join(*l, ",") }
func (l *list) Set(v string) error { *l = append(*l, v); return nil }

func main() {
	layer := flag.String("layer", "", "tar file with the image's files (required)")
	tag := flag.String("tag", "", "image reference, e.g. localhost/shimmy:dev (required)")
	out := flag.String("out", "", "archive to write (required)")
	workdir := flag.String("workdir", "/", "working directory of the image")
	user := flag.String("user", "", "user the image runs as (uid[:gid])")
	var entrypoint, env list
	flag.Var(&entrypoint, "entrypoint", "entrypoint word (repeat for each word)")
	flag.Var(&env, "env", "NAME=VALUE (repeatable)")
	flag.Parse()
	if *layer == "" || *tag == "" || *out == "" {
		fmt.Fprintln(os.Stderr, "oci-image: --layer, --tag and --out are required")
		flag.Usage()
		os.Exit(2)
	}
	if err := build(*layer, *tag, *out, *workdir, *user, entrypoint, env); err != nil {
		fmt.Fprintf(os.Stderr, "oci-image: %v\n", err)
		os.Exit(1)
	}
}

func build(layerFile, tag, out, workdir, user string, entrypoint, env []string) error {
	ref, err := name.NewTag(tag)
	if err != nil {
		return fmt.Errorf("bad --tag %q: %w", tag, err)
	}
	// Memoized: the gzip of the layer is needed twice (its digest, then the archive).
	layer, err := tarball.LayerFromFile(layerFile, tarball.WithCompressedCaching)
	if err != nil {
		return fmt.Errorf("reading layer %s: %w", layerFile, err)
	}
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		return err
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return err
	}
	cfg = cfg.DeepCopy()
	cfg.OS = "linux"
	cfg.Architecture = "amd64"
	cfg.Config = v1.Config{Entrypoint: entrypoint, Env: env, WorkingDir: workdir, User: user}
	img, err = mutate.ConfigFile(img, cfg)
	if err != nil {
		return err
	}
	return tarball.WriteToFile(out, ref, img)
}
