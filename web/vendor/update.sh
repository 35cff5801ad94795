#!/bin/sh
# Re-copies the vendored libraries of the web admin from Debian 12's packages:
#   apt-get install libjs-chart.js libjs-codemirror && sh web/vendor/update.sh
# The copies are committed, so neither the build nor the server needs these packages.
set -eu
cd "$(dirname "$0")"
JS=/usr/share/javascript
mkdir -p chart.js codemirror/mode/lua codemirror/addon/edit
cp "$JS/chart.js/chart.min.js" chart.js/chart.min.js
cp "$JS/codemirror/lib/codemirror.js" codemirror/codemirror.js
cp "$JS/codemirror/lib/codemirror.css" codemirror/codemirror.css
cp "$JS/codemirror/mode/lua/lua.js" codemirror/mode/lua/lua.js
cp "$JS/codemirror/addon/edit/matchbrackets.js" codemirror/addon/edit/matchbrackets.js
dpkg-query -W -f='${Package} ${Version}\n' libjs-chart.js libjs-codemirror > VERSIONS
