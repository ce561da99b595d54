#!/usr/bin/env bash
# Builds the libFuzzer target fuzz_targets/render_mask.rs and runs it for SECONDS (default 60;
# 0 runs each corpus input once).
#
#   fuzz/run.sh [SECONDS] [extra libFuzzer flags...]
#
# Stable Rust, no cargo-fuzz: RUSTFLAGS below are the ones `cargo fuzz build -s none
# --debug-assertions` passes (its src/project.rs), less `-Ccodegen-units=1`, which only makes the
# instrumented binary a little faster and its build much slower. `--target` keeps them off build
# scripts, as cargo-fuzz does. The corpus (fuzz/corpus, not committed) is seeded on every run
# from the real chat templates (TRL's, found through the virtualenv's python, and tests/data's),
# each followed by a short conversation, plus the hand-written inputs in fuzz/seeds. A crash exits
# non-zero and names its reproducer; rerun one with `fuzz/target/<triple>/release/render_mask FILE`.
set -euo pipefail
cd "$(dirname "$0")"
seconds=${1:-60}
shift || true

triple=$(rustc -vV | sed -n 's/^host: //p')
export RUSTFLAGS="--cfg fuzzing -Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares -Cllvm-args=-simplifycfg-branch-fold-threshold=0 \
-Cllvm-args=-sanitizer-coverage-stack-depth -Cdebug-assertions ${RUSTFLAGS:-}"
nice cargo build --quiet --release --target "$triple" --bin render_mask
binary=target/$triple/release/render_mask

# Seeds: OPTIONS TEMPLATE 0xFF KIND CONTENT ... (see the target's header). Kinds: 2 system,
# 0 user, 1 assistant, 16 assistant with reasoning_content, 11 assistant with tool calls.
conversation='\xff\x02You are brief.\xff\x00Hi there\xff\x01Hello! How can I help?\xff\x00Thanks <|im_end|>\xff\x10Bye\xff\x0b{"q": 1}'
mkdir -p corpus artifacts
python=${PYTHON:-../.venv/bin/python}
trl_dir=$("$python" -c 'import trl, os; print(os.path.dirname(trl.__file__))' 2>/dev/null || true)
for template in ${trl_dir:+"$trl_dir"/chat_templates/*.jinja} ../tests/data/templates/*.jinja ../python/fastmask/data/*.jinja; do
    name=$(basename "$template" .jinja)
    # Options 0x04: generation spans, else turns; 0x03: turns with a generation prompt.
    { printf '\x04'; cat "$template"; printf "$conversation"; } >"corpus/seed-$name"
    { printf '\x03'; cat "$template"; printf "$conversation"; } >"corpus/seed-$name-turns"
done

echo "fuzzing render_mask for ${seconds}s ($(ls corpus | wc -l) corpus inputs, $(ls seeds | wc -l) seeds)"
limit=-max_total_time=$seconds
[ "$seconds" -gt 0 ] || limit=-runs=0
status=0
"$binary" corpus seeds -dict=jinja.dict -artifact_prefix=artifacts/ "$limit" \
    -rss_limit_mb=2048 -timeout=10 -max_len=65536 -print_final_stats=1 "$@" 2>fuzz.log || status=$?
tail -n 25 fuzz.log
if [ "$status" -ne 0 ]; then
    crash=$(ls -t artifacts/* 2>/dev/null | head -n 1)
    echo "render_mask failed (exit $status); full log in fuzz/fuzz.log; reproducer: fuzz/$crash" >&2
    echo "rerun it with: fuzz/$binary fuzz/$crash" >&2
    exit 1
fi
