#!/usr/bin/env bash
# Helpers shared by scripts/bootstrap.sh, capture-proof.sh and deploy.sh; sourced, never run. The
# sourcing script sets `set -euo pipefail`, and NAMESPACE and KUBECTL_TIMEOUT before it calls kube().

# The scripts need bash 4.4 or later (mapfile; an empty array under `set -u`). This check comes first
# and is written in bash 3.2's syntax, so that macOS's /bin/bash reaches it and says so plainly.
# require_bash_4_4 MAJOR MINOR: exits 2 unless bash MAJOR.MINOR is 4.4 or later.
require_bash_4_4() {
  if [ "$1" -lt 4 ] || { [ "$1" -eq 4 ] && [ "$2" -lt 4 ]; }; then
    printf '%s: error: bash 4.4 or later is needed, and %s is bash %s.%s. On macOS: brew install bash,%s\n' \
      "${0##*/}" "${BASH:-bash}" "$1" "$2" " then run this again (the scripts run the first bash on PATH: Homebrew's)" >&2
    exit 2
  fi
}
require_bash_4_4 "${BASH_VERSINFO[0]}" "${BASH_VERSINFO[1]}"

# Messages go to stderr, prefixed with the name of the script that runs (bootstrap, capture-proof, deploy).
SCRIPT_NAME="${0##*/}"
readonly SCRIPT_NAME="${SCRIPT_NAME%.sh}"
log() { printf '%s: %s\n' "${SCRIPT_NAME}" "$*" >&2; }
err() { printf '%s: error: %s\n' "${SCRIPT_NAME}" "$*" >&2; }
# die STATUS MESSAGE...: err, then exit STATUS.
die() {
  err "${*:2}"
  exit "$1"
}

# require_tools TOOL...: names every missing tool in one line and exits 2.
require_tools() {
  local tool missing=()
  for tool in "$@"; do
    command -v "${tool}" >/dev/null || missing+=("${tool}")
  done
  if ((${#missing[@]})); then
    err "missing required tool(s): ${missing[*]} (install them and run this again;" \
      "kubectl: https://kubernetes.io/docs/tasks/tools/)"
    exit 2
  fi
}

# The namespace `kubectl apply` uses: the current context's, or "default" when the context sets none.
context_namespace() {
  local name
  name="$(kubectl config view --minify -o 'jsonpath={..namespace}' 2>/dev/null || true)"
  printf '%s' "${name:-default}"
}

# Every call to the API server is bounded. Not for watches: `rollout status` takes --timeout instead,
# because --request-timeout would cut the watch itself.
kube() { kubectl --namespace "${NAMESPACE}" --request-timeout="${KUBECTL_TIMEOUT}" "$@"; }

# wait_until SECONDS WHAT COMMAND...: runs COMMAND until it succeeds, at most SECONDS long.
# COMMAND's exit status: 0 the condition holds, 1 not yet, anything else it never will (stop now).
# Returns 0 when the condition holds, 1 otherwise, after saying what it gave up on.
wait_until() {
  local seconds="$1" what="$2" status deadline
  shift 2
  deadline=$((SECONDS + seconds))
  while true; do
    status=0
    "$@" || status=$?
    ((status == 0)) && return 0
    if ((status != 1)); then
      log "stopped waiting for ${what}: it cannot happen any more"
      return 1
    fi
    if ((SECONDS >= deadline)); then
      log "gave up waiting for ${what} after ${seconds}s"
      return 1
    fi
    sleep 0.2
  done
}
