#!/usr/bin/env bash
# Copies GraphiQL's and React's production files, each with its licence, from the npm packages
# pinned in package.json and package-lock.json into cdp/graphql/assets/vendor/<name>@<version>/.
# Run after changing a version here (and the paths in cdp/graphql/graphiql.html); commit the result.
set -euo pipefail
cd "$(dirname "$0")"
npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
target=../../cdp/graphql/assets/vendor
rm -rf "$target"
copy() {  # package, then files inside it
  local name=$1 version
  shift
  version=$(node -p "require('./node_modules/$name/package.json').version")
  mkdir -p "$target/$name@$version"
  for file in LICENSE "$@"; do
    cp "node_modules/$name/$file" "$target/$name@$version/$(basename "$file")"
  done
}
copy graphiql graphiql.min.js graphiql.min.css
copy react umd/react.production.min.js
copy react-dom umd/react-dom.production.min.js
