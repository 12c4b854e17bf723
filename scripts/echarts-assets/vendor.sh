#!/usr/bin/env bash
# Copies Apache ECharts' production file with its LICENSE and NOTICE (Apache-2.0 has them travel
# with the code), and the licences of what the file bundles (zrender, the d3 parts), from the npm
# package pinned in package.json and package-lock.json into cdp/console/vendor/echarts@<version>/.
# Run after changing the version here (and the path in the console's pages); commit the result.
set -euo pipefail
cd "$(dirname "$0")"
npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
target=../../cdp/console/vendor
rm -rf "$target"/echarts@*
version=$(node -p "require('./node_modules/echarts/package.json').version")
folder="$target/echarts@$version"
mkdir -p "$folder"
cp node_modules/echarts/dist/echarts.min.js node_modules/echarts/LICENSE \
  node_modules/echarts/NOTICE node_modules/echarts/licenses/LICENSE-d3 "$folder/"
cp node_modules/zrender/LICENSE "$folder/LICENSE-zrender"
echo "vendored echarts $version into cdp/console/vendor/echarts@$version"
