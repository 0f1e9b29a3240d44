#!/usr/bin/env bash
# The layering of docs/ARCHITECTURE.md, checked: a file in src/<folder>/ includes only
# headers of its own folder or of folders above it in the table (base, img, video, nn,
# face, warp, models, train, animate, eval, serve, cli).  Also that the table and src/
# agree (a new folder must be placed).  Exit 0 clean, 1 with one line per violation.
set -u
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
order=$(grep -o '^| [a-z]*/ |' "$root/docs/ARCHITECTURE.md" | tr -d '|/ ')
declare -A rank
i=0
for folder in $order; do rank[$folder]=$i; i=$((i + 1)); done
bad=0
for dir in "$root"/src/*/; do
  folder=$(basename "$dir")
  if [ -z "${rank[$folder]+x}" ]; then
    echo "layers: src/$folder/ is not in docs/ARCHITECTURE.md's Layers table"
    bad=1
    continue
  fi
done
while IFS= read -r hit; do
  file=${hit%%:*}
  rest=${hit#*:}
  line=${rest%%:*}
  inc=$(sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([a-z_]*\)\/.*/\1/p' <<<"${rest#*:}")
  [ -n "$inc" ] || continue
  folder=$(basename "$(dirname "$file")")
  [ -n "${rank[$inc]+x}" ] || continue # not a src/ folder (e.g. a generated path)
  if [ "${rank[$inc]}" -gt "${rank[$folder]}" ]; then
    echo "layers: ${file#"$root"/}:$line includes $inc/ from $folder/, which sits above it"
    bad=1
  fi
done < <(grep -n '^[[:space:]]*#[[:space:]]*include[[:space:]]*"[a-z_]*/' "$root"/src/*/*.c "$root"/src/*/*.h)
[ $bad = 0 ] && echo "layers: $(ls -d "$root"/src/*/ | wc -l) folders, every include goes downwards"
exit $bad
