#!/usr/bin/env bash
# CI only, after `make deploy` on a cluster with Traefik: fails unless the Ingress was applied as committed
# (class traefik, the one my-ingress-eval.yml names) and capture-proof.sh sent its HTTP checks to the
# Ingress's address, not to a port-forward.
set -euo pipefail

main() {
  local committed applied evidence how
  committed="$(sed -n 's/^ *ingressClassName: *\([^ #]*\).*/\1/p' my-ingress-eval.yml)"
  applied="$(kubectl get ingress api-ingress --request-timeout=30s -o jsonpath='{.spec.ingressClassName}')"
  if [[ "${applied}" != "${committed}" ]]; then
    printf 'ingress/api-ingress has class %s, but my-ingress-eval.yml names %s\n' "${applied}" "${committed}" >&2
    exit 1
  fi
  # The newest run's (folders are named by their UTC start time).
  evidence="$(find evidence -name 10_base_url.txt | sort | tail -n 1)"
  how="$(sed -n 2p "${evidence}")"
  if [[ "${how}" != "the address of ingress/api-ingress" ]]; then
    printf 'the HTTP checks did not go through the Ingress (%s): %s\n' "${evidence}" "${how}" >&2
    exit 1
  fi
  printf 'ingress/api-ingress: class %s as committed; checks sent to %s\n' "${applied}" "$(sed -n 1p "${evidence}")"
}

main "$@"
