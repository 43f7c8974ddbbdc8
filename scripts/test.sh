#!/usr/bin/env bash
# `make test`: every phase in turn, each timed; a summary at the end, pass or fail.
#   install      the pinned tools (.tools/), Chromium, the docs renderer
#   build        one cargo build of every target (the stack's binaries and the tests)
#   unit         unit and handler tests of every crate
#   integration  the integration suite through the local stacks, then the scan of
#                their logs for 5xx and panics no test asked for
#   linters      cfn-lint, sam validate, checkov and the template's own checks
#   contract     schemathesis against openapi.yaml through a stack of its own
set -uo pipefail
cd "$(dirname "$0")/.."
# Every cargo call selects the whole workspace: features are resolved over the
# packages selected, so `-p` or `--exclude` would build a second copy of the
# shared crate and relink what depends on it.

names=()
seconds=()
outcomes=()
failed=""

summary() {
  echo
  echo "make test: phase timings"
  local total=0
  for i in "${!names[@]}"; do
    printf '  %-12s %5ss  %s\n' "${names[$i]}" "${seconds[$i]}" "${outcomes[$i]}"
    total=$((total + seconds[i]))
  done
  printf '  %-12s %5ss\n' "total" "$total"
}
trap summary EXIT

phase() {
  local name=$1
  shift
  if [ -n "$failed" ]; then
    return
  fi
  echo "==> $name"
  local start=$SECONDS
  "$@"
  local rc=$?
  names+=("$name")
  seconds+=($((SECONDS - start)))
  if [ $rc -eq 0 ]; then
    outcomes+=("ok")
  else
    outcomes+=("FAILED (exit $rc)")
    failed=$name
  fi
}

# The stacks' logs of this run only: the scan must not read an earlier run's.
target=${CARGO_TARGET_DIR:-target}
rm -f "$target"/local-stack-test-*.log
suite() {
  cargo test --workspace --test integration -- "$@" || return
  if compgen -G "$target/local-stack-test-*.log" >/dev/null; then
    python3 scripts/check-stack-logs.py "$target"/local-stack-test-*.log
  fi
}

phase install make -j4 --no-print-directory test-tools
phase build cargo build --workspace --all-targets
phase unit cargo test --workspace --lib --bins
phase integration suite --skip template:: --skip schemathesis_run::
phase linters suite template::
phase contract suite schemathesis_run::

[ -z "$failed" ] || { echo "make test: the $failed phase failed"; exit 1; }
