#!/usr/bin/env bash
# Builds the chart renderer (main.go says why it exists) offline: Debian's Go (golang-go) and
# Go library packages under /usr/share/gocode, which scripts/setup.sh installs; GOPATH mode and
# GOPROXY=off, so nothing is downloaded. Usage: deploy/helm/render/build.sh OUTPUT
set -euo pipefail
[ $# -eq 1 ] || { echo "usage: $0 OUTPUT" >&2; exit 2; }
out=$(realpath -m "$1")
here=$(cd "$(dirname "$0")" && pwd)
if ! command -v go >/dev/null; then
  echo "$0: no go command: install Debian's golang-go (scripts/setup.sh does)" >&2
  exit 1
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# Debian installs sprig v3 and semver v3 without the /v3 folder; GOPATH mode finds them under
# their /v3 import paths (minimal module compatibility) only for code inside a GOPATH that has
# a go.mod; the go.mod is otherwise unused (GO111MODULE=off).
mkdir -p "$work/src/helmrender"
cp "$here"/*.go "$work/src/helmrender/"
printf 'module helmrender\n\ngo 1.19\n' > "$work/src/helmrender/go.mod"
cd "$work/src/helmrender"
if ! GO111MODULE=off GOPATH="$work:/usr/share/gocode" GOPROXY=off GOFLAGS= \
    go build -trimpath -o "$out" .; then
  echo "$0: the build failed; it needs Debian's golang-go golang-github-masterminds-sprig-dev" \
    "golang-k8s-sigs-yaml-dev golang-github-xeipuuv-gojsonschema-dev golang-github-burntsushi-toml-dev" >&2
  exit 1
fi
