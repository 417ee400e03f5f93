#!/usr/bin/env bash
# Fetch the JavaScript the static book needs, from the npm registry, into book/_webassets/
# (not committed; rebuilt when missing). Pages must never depend on a CDN:
#   - @jupyter-widgets/html-manager (embed-amd.js) + requirejs: render saved ipywidgets state;
#   - mathjax 3 (tex-chtml.js and the pieces it loads lazily): LaTeX in the notebooks.
# Usage: tools/fetch_web_assets.sh [DEST]   (default: book/_webassets)
set -euo pipefail

HTML_MANAGER=@jupyter-widgets/html-manager@1.0.15
REQUIREJS=requirejs@2.3.7
MATHJAX=mathjax@3.2.2

root="$(cd "$(dirname "$0")/.." && pwd)"
dest="${1:-$root/book/_webassets}"
stamp="$dest/.fetched-$(echo "$HTML_MANAGER $REQUIREJS $MATHJAX fonts" | cksum | cut -d' ' -f1)"
if [[ -f "$stamp" ]]; then
    exit 0
fi
command -v npm >/dev/null || { echo "fetch_web_assets: npm is required (apt-get install -y npm)" >&2; exit 1; }

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "$HTML_MANAGER" "$REQUIREJS" "$MATHJAX" >/dev/null)
for tgz in "$work"/*.tgz; do
    name="$(basename "$tgz" .tgz)"
    mkdir -p "$work/$name" && tar xzf "$tgz" -C "$work/$name"
done

rm -rf "$dest" && mkdir -p "$dest/mathjax/output"
hm="$(echo "$work"/jupyter-widgets-html-manager-*/package/dist)"
cp "$hm/embed-amd.js" "$dest/"
# The icon fonts embed-amd.js loads; book/_ext/static_site.py points requirejs at this folder.
mkdir -p "$dest/html-manager-dist"
cp "$hm"/*.woff2 "$hm"/*.woff "$hm"/*.ttf "$hm"/*.eot "$hm"/*.svg "$dest/html-manager-dist/"
cp "$work"/requirejs-*/package/require.js "$dest/"
mj="$(echo "$work"/mathjax-*/package/es5)"
cp "$mj/tex-chtml.js" "$dest/mathjax/"
cp -r "$mj/input" "$mj/ui" "$mj/a11y" "$mj/adaptors" "$dest/mathjax/"
cp -r "$mj/output/chtml" "$mj/output/chtml.js" "$dest/mathjax/output/"
for f in embed-amd.js require.js mathjax/tex-chtml.js; do
    [[ -s "$dest/$f" ]] || { echo "fetch_web_assets: $f missing after npm pack" >&2; exit 1; }
done
touch "$stamp"
echo "fetched $HTML_MANAGER, $REQUIREJS, $MATHJAX into $dest"
