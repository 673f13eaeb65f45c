//go:build tools

// Helm, built from its Go module by scripts/go-build.sh helm.
package tools

import (
	_ "helm.sh/helm/v3/cmd/helm"
)
