# Sourced by the CLI tests: small_dataset DIR N writes the first N Fashion-MNIST test images and
# labels as plain IDX files DIR/images and DIR/labels (a header for N examples, then the data),
# so that a run starts in milliseconds instead of decoding 60 000 images.
small_dataset() {
  local out=$1 n=$2 src=${EBM_FASHION_DIR:-/usr/share/datasets/fashion-mnist}
  local be
  be=$(printf '\\x%02x\\x%02x\\x%02x\\x%02x' $((n >> 24 & 255)) $((n >> 16 & 255)) $((n >> 8 & 255)) $((n & 255)))
  mkdir -p "$out"
  { printf '\x00\x00\x08\x03'; printf "$be"; printf '\x00\x00\x00\x1c\x00\x00\x00\x1c'
    # head closes the pipe early: zcat's SIGPIPE is expected, so pipefail must not see it.
    { zcat "$src/t10k-images-idx3-ubyte.gz" || true; } | tail -c +17 | head -c $((n * 784)); } > "$out/images"
  { printf '\x00\x00\x08\x01'; printf "$be"
    { zcat "$src/t10k-labels-idx1-ubyte.gz" || true; } | tail -c +9 | head -c "$n"; } > "$out/labels"
  [ "$(stat -c %s "$out/images")" -eq $((16 + n * 784)) ] && [ "$(stat -c %s "$out/labels")" -eq $((8 + n)) ]
}
