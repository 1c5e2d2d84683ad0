#!/usr/bin/env bash
# Replays Binder offline and checks that every chapter renders as on the website.
#
# Usage: tools/check_binder_replica.sh   (needs python3 and Debian's chromium; takes a few minutes)
#
# 1. a copy of the repository, with binder/requirements.txt installed in a fresh venv (the PyTorch
#    index line is dropped where it is unreachable: the machine's own CPU wheel is used instead),
#    and binder/postBuild run with a scratch HOME, as repo2docker does;
# 2. JupyterLab on localhost; the contents API must serve each chapter as a notebook whose first
#    cell carries the book's macros;
# 3. headless Chromium opens each chapter in JupyterLab and counts jupyterlab-myst's error marks
#    ("Undefined control sequence": an unknown macro) and raw roles; both must be zero.
#    A screenshot of each chapter is left in $OUT.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=${WORK:-$(mktemp -d)}
OUT=${OUT:-$WORK/screenshots}
PORT=${PORT:-8899}
mkdir -p "$WORK/repo" "$WORK/home" "$OUT"
(cd "$ROOT" && git ls-files -z | xargs -0 tar -cf - ) | tar -xf - -C "$WORK/repo"
cd "$WORK/repo"
grep -v "extra-index-url" binder/requirements.txt > binder/requirements.replica.txt
python3 -m venv "$WORK/env"
(cd binder && "$WORK/env/bin/pip" install --quiet -r requirements.replica.txt)
HOME="$WORK/home" PATH="$WORK/env/bin:$PATH" bash binder/postBuild
HOME="$WORK/home" "$WORK/env/bin/jupyter" lab --allow-root --no-browser --port "$PORT" --ServerApp.token= \
  --ServerApp.password= --ServerApp.ip=127.0.0.1 --ServerApp.root_dir="$WORK/repo" > "$WORK/lab.log" 2>&1 &
LAB=$!
trap 'kill $LAB' EXIT
sleep 10
status=0
for md in $(python3 -c "import sys; sys.path.insert(0, 'tools'); import book_files; print(' '.join(str(p.relative_to(book_files.ROOT)) for p in book_files.chapters()))"); do
  curl -s "http://127.0.0.1:$PORT/api/contents/$md?type=notebook&content=1" \
    | python3 -c "import json, sys; c = json.load(sys.stdin)['content']['cells'][0]; assert c['source'].startswith('---\nmath:'), 'no macros'"
  name=$(basename "$md" .md)
  flags="--headless --no-sandbox --disable-gpu --disable-quic --no-first-run --disable-background-networking --disable-component-update --disable-sync"
  chromium $flags --user-data-dir="$WORK/chrome-$name" --window-size=1400,1800 --virtual-time-budget=60000 \
    --dump-dom "http://127.0.0.1:$PORT/lab/tree/$md" 2>/dev/null > "$WORK/$name.html"
  chromium $flags --user-data-dir="$WORK/chrome-$name-shot" --window-size=1400,1800 --virtual-time-budget=60000 \
    --screenshot="$OUT/$name.png" "http://127.0.0.1:$PORT/lab/tree/$md" 2>/dev/null
  python3 - "$WORK/$name.html" "$name" <<'PY' || status=1
import sys
body = open(sys.argv[1]).read().split("<body", 1)[1]
errors, roles = body.count("Undefined control sequence"), sum(body.count(r) for r in ("{cite:", "{py:"))
print(f"{sys.argv[2]}: {errors} macro errors, {roles} raw book-wide roles")
sys.exit(1 if errors or roles else 0)
PY
done
echo "screenshots in $OUT"
exit $status
