#!/bin/sh
# Refreshes the front-end libraries embedded in web/assets/vendor from the
# npm registry, at the pinned versions below (make web-vendor). The files
# are committed: building and `make test` never need npm. To update a
# library, change its version here, run this, look at the pages (the
# browser tests in integration/web_test.go), and commit the result.
set -eu

PREACT=10.27.2     # MIT       UI components (h, render) and hooks
HTM=3.1.1          # Apache-2.0 JSX-like tagged templates, no build step
UPLOT=1.6.32       # MIT       time series charts (/metrics)
CYTOSCAPE=3.34.4   # MIT       graph drawing, zoom, drag (/cluster-visualizer.html)

here=$(cd "$(dirname "$0")" && pwd)
out="$here/assets/vendor"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm init -y >/dev/null &&
	npm install --no-audit --no-fund --ignore-scripts \
		"preact@$PREACT" "htm@$HTM" "uplot@$UPLOT" "cytoscape@$CYTOSCAPE" >/dev/null)
m="$tmp/node_modules"
mkdir -p "$out"
cp "$m/preact/dist/preact.module.js" "$out/preact.module.js"
# The hooks import "preact" by bare name; point them at the file next to
# them, so the pages need no import map (which a strict CSP would block).
sed 's|from"preact"|from"./preact.module.js"|g' "$m/preact/hooks/dist/hooks.module.js" >"$out/hooks.module.js"
cp "$m/htm/dist/htm.module.js" "$out/htm.module.js"
# uPlot's minified build is a script defining a global; as a module it
# exports it.
{ cat "$m/uplot/dist/uPlot.iife.min.js"; printf '\nexport default uPlot;\n'; } >"$out/uplot.module.js"
cp "$m/uplot/dist/uPlot.min.css" "$out/uPlot.min.css"
cp "$m/cytoscape/dist/cytoscape.esm.min.mjs" "$out/cytoscape.module.js"
for p in preact htm uplot cytoscape; do
	cp "$m/$p/LICENSE" "$out/LICENSE.$p"
done
cat >"$out/VERSIONS" <<EOT
preact $PREACT MIT LICENSE.preact
htm $HTM Apache-2.0 LICENSE.htm
uplot $UPLOT MIT LICENSE.uplot
cytoscape $CYTOSCAPE MIT LICENSE.cytoscape
EOT
echo "web/assets/vendor refreshed:"
cat "$out/VERSIONS"
