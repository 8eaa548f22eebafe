#!/usr/bin/env bash
# Validates deploy/ without a network, a Docker engine or a cluster: builds
# the kustomizations and decodes them into the Kubernetes API types, loads
# the compose file with compose-go, runs the Dockerfile's go build on its
# filtered context, starts redis-server with deploy/redis/redis.conf, and
# runs promtool check rules and test rules on deploy/prometheus.
# The checks live in their own Go module (deploy/validate) so the main
# module's tests never download the Kubernetes libraries.
set -euo pipefail
cd "$(dirname "$0")/validate"
go vet ./...
go test -count=1 ./...
