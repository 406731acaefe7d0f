#!/usr/bin/env bash
# Reproduce include/segmentation/data/us-atlas/ from the npm package us-atlas (ISC licence; the
# geometry is the Census Bureau's public-domain cartographic boundaries, pre-projected to Albers USA).
# Usage: scripts/fetch_us_atlas.sh   (needs npm and network access to the npm registry)
set -euo pipefail
VERSION=3.0.1
SHA256=a674dfa31b625e92635f32684a61ae135b05a91507f17f2d5164833237fecf46  # counties-albers-10m.json
target="$(cd "$(dirname "$0")/.." && pwd)/include/segmentation/data/us-atlas"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "us-atlas@$VERSION" >/dev/null && tar xzf "us-atlas-$VERSION.tgz")
echo "$SHA256  $work/package/counties-albers-10m.json" | sha256sum --check --quiet
mkdir -p "$target"
cp "$work/package/counties-albers-10m.json" "$work/package/LICENSE" "$target/"
echo "us-atlas $VERSION -> $target"
