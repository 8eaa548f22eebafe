// Package validate checks otpgate's deployment artefacts without a network,
// a Docker engine or a Kubernetes cluster. Its tests build the kustomizations
// with the kustomize Go API and decode every object strictly into the typed
// Kubernetes API structs, load the compose file with compose-go, run the
// Dockerfile's build command, start redis-server with deploy/redis's
// configuration, and run promtool on deploy/prometheus's alert rules and
// their unit tests. It is a module of its own so that the main module's
// `go test ./...` does not download or compile the Kubernetes libraries.
//
// Run it with deploy/validate.sh.
package validate
