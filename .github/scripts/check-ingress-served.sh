#!/usr/bin/env bash
# CI only, after `make deploy`: fails unless capture-proof.sh sent its HTTP checks to the Ingress's address,
# not to a port-forward, so the committed Ingress, which names no class, was served by the cluster's default
# IngressClass.
set -euo pipefail

main() {
  local evidence how
  # The newest run's (folders are named by their UTC start time).
  evidence="$(find evidence -name 10_base_url.txt | sort | tail -n 1)"
  how="$(sed -n 2p "${evidence}")"
  if [[ "${how}" != "the address of ingress/api-ingress" ]]; then
    printf 'the HTTP checks did not go through the Ingress (%s): %s\n' "${evidence}" "${how}" >&2
    exit 1
  fi
  printf 'ingress/api-ingress (class %s, the default): checks sent to %s\n' \
    "$(kubectl get ingress api-ingress --request-timeout=30s -o jsonpath='{.spec.ingressClassName}')" "$(sed -n 1p "${evidence}")"
}

main "$@"
