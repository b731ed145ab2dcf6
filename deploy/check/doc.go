// Package check tests zonecache's deployment kit (the folders beside it):
// the Kubernetes manifests decode strictly into the Kubernetes API types
// and render with kustomize, and the container image's binaries, built
// with the Dockerfile's flags, run in an empty root as its user. It is a
// module of its own, so that the zonecache module does not depend on
// Kubernetes; `make test` runs it.
package check
