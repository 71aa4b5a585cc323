#!/usr/bin/env bash
# CI only, after a failed step of a cluster job: saves what explains it into FOLDER (default
# evidence/cluster-diagnostics), which the job uploads with the evidence. Every command is bounded and
# may fail: a diagnostic that cannot be taken is noted, never the end of the others.
set -euo pipefail

readonly FOLDER="${1:-evidence/cluster-diagnostics}"
readonly SELECTOR=app=api-mysql

# save FILE COMMAND...: the command line, its output and its exit status.
save() {
  local file="${FOLDER}/$1" status=0
  shift
  { printf '$ %s\n' "$*"; timeout 60 "$@" 2>&1 || status=$?; } >"${file}"
  printf '[exit status %s]\n' "${status}" >>"${file}"
}

main() {
  mkdir -p "${FOLDER}"
  save nodes.txt kubectl get nodes -o wide
  save all.txt kubectl get all,ingress,ingressclass,endpointslices --all-namespaces -o wide
  save describe-deployment.txt kubectl describe deployment api-mysql
  save describe-pods.txt kubectl describe pods --selector "${SELECTOR}"
  save describe-service.txt kubectl describe service api-svc
  save describe-ingress.txt kubectl describe ingress api-ingress
  save events.txt kubectl get events --all-namespaces --sort-by=.lastTimestamp
  local pod container
  for pod in $(kubectl get pods --selector "${SELECTOR}" -o jsonpath='{.items[*].metadata.name}' 2>/dev/null || true); do
    for container in db api; do
      save "logs-${pod}-${container}.txt" kubectl logs "${pod}" -c "${container}" --tail=500
      save "previous-logs-${pod}-${container}.txt" kubectl logs "${pod}" -c "${container}" --previous --tail=500
    done
  done
  # The ingress controller: Traefik, wherever it runs (kube-system on k3s, traefik on kind).
  save traefik-logs.txt kubectl logs --namespace "$(traefik_namespace)" \
    --selector app.kubernetes.io/name=traefik --tail=500 --all-containers
  if command -v k3s >/dev/null; then
    save k3s-journal.txt sudo journalctl --unit k3s --no-pager --lines 500
  fi
}

traefik_namespace() {
  kubectl get pods --all-namespaces --selector app.kubernetes.io/name=traefik \
    -o jsonpath='{.items[0].metadata.namespace}' 2>/dev/null || printf 'kube-system'
}

main "$@"
