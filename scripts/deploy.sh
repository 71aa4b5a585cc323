#!/usr/bin/env bash
# One command from a clone to evidence on k3s, k3d, kind or minikube, or any cluster with a registry: builds the
# API image, makes it available to the cluster kubectl points at, creates the Secret when there is none,
# applies the manifests through a temporary kustomize overlay (the committed files never change), waits for
# the rollout and runs scripts/capture-proof.sh. `deploy.sh undeploy` removes what it made. See --help.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
# shellcheck source=lib/common.sh
source "${BASH_SOURCE[0]%/*}/lib/common.sh"

ROOT="$(cd "${BASH_SOURCE[0]%/*}/.." && pwd -P)"
readonly ROOT

CLUSTER="${CLUSTER:-}"                                 # empty: found out from the context's nodes
readonly REGISTRY="${REGISTRY:-}"
readonly INGRESS_CLASS="${INGRESS_CLASS:-}"
readonly DEMO_SECRET="${DEMO_SECRET:-0}"
NAMESPACE="${NAMESPACE:-}"                             # empty: the current context's namespace
readonly CONTAINER_ENGINE="${CONTAINER_ENGINE:-}"      # empty: docker if its daemon answers, else podman
readonly BUILD_FLAGS="${BUILD_FLAGS:-}"                # extra `build` options, split on spaces
readonly ROLLOUT_TIMEOUT="${ROLLOUT_TIMEOUT:-300s}"
readonly KUBECTL_TIMEOUT="${KUBECTL_TIMEOUT:-30s}"     # per kubectl call to the API server
readonly DELETE_TIMEOUT="${DELETE_TIMEOUT:-120s}"      # per object, for undeploy
readonly INGRESS_ADDRESS_WAIT="${INGRESS_ADDRESS_WAIT:-60}"   # seconds for the controller to publish one
# MYSQL_PASSWORD is moved into a variable of this script only (see take_password): never exported to
# the tools it runs, never written to disk, never printed, never in an argument list.
PASSWORD=""
PASSWORD_GIVEN=0

# What the committed manifests name.
readonly SECRET=mysql-secret SECRET_KEY=MYSQL_PASSWORD DEPLOYMENT=api-mysql SELECTOR=app=api-mysql
readonly SERVICE=api-svc INGRESS=api-ingress API_IMAGE=user-api
# Marks a Secret this script created, so that undeploy deletes that one and no other.
readonly OWNER_KEY=app.kubernetes.io/managed-by OWNER_VALUE=deploy.sh

WORKDIR=""        # temporary: the overlay, the image archive, kubectl's error output; removed on exit
CONTEXT=""
ENGINE=""
CLASS=""
IMAGE_REF=""

usage() {
  cat <<'EOF'
Usage: scripts/deploy.sh [deploy | undeploy | --help]        (or: make deploy, make undeploy)

deploy (the default), against the cluster of kubectl's current context:
  1. finds out whether it is k3s, k3d, kind or minikube, from its nodes (CLUSTER=k3s|k3d|kind|minikube
     overrides): k3d is k3s in containers, named k3d-NAME-server-0 (or a context named k3d-NAME);
  2. picks the Ingress class: INGRESS_CLASS, else the cluster's default IngressClass, else the only one;
     with none it stops and says how to install a controller on this kind of cluster;
  3. builds api/ with docker (if its daemon answers) or podman, tagged with the image's own ID, so a
     code change gives a new tag and a new rollout, and an unchanged image changes nothing;
  4. makes the image available to the cluster:
       k3s       `save` piped into `k3s ctr images import -` (with sudo unless root). That loads this
                 machine's containerd, so only when the cluster's one node is this machine (the node's
                 name or its k3s.io/hostname annotation is `uname -n`); a k3s whose node is another
                 machine, or with several nodes, stops here: use REGISTRY
       k3d       `save` into an archive, then `k3d image import --cluster NAME` (every node of it)
       kind      `save` into an archive, then `kind load image-archive` (works with Docker's containerd
                 image store, where `kind load docker-image` fails)
       minikube  `save` into an archive, then `minikube image load`
       REGISTRY  any cluster: pushes REGISTRY/user-api:<tag>, which the nodes pull
  5. creates Secret mysql-secret only if it does not exist (an existing one is never overwritten):
     from MYSQL_PASSWORD, or from a generated password (48 hex digits); DEMO_SECRET=1 uses the demo
     value of my-secret-eval.yml instead. The password is never printed, written to disk or passed
     as an argument. Read it back with:
       kubectl get secret mysql-secret -o jsonpath='{.data.MYSQL_PASSWORD}' | base64 -d
  6. applies Deployment, Service and Ingress in that order through a temporary kustomize overlay of
     kustomization.yaml (the image and the class set there; the committed files stay as they are);
  7. waits for the rollout; if it fails, prints `kubectl describe` and the events of every Pod that is
     not ready, and exits 1;
  8. runs scripts/capture-proof.sh and prints the URL to try and the evidence folder.
     Exit status: 0 when every check passed.

undeploy deletes the Ingress, the Service and the Deployment, in that order, and the Secret only if
deploy created it (it carries the label app.kubernetes.io/managed-by=deploy.sh).

Settings (environment variables):
  CLUSTER=            k3s | k3d | kind | minikube (empty: detected)
  REGISTRY=           e.g. registry.example.com:5000/team: push there instead of loading into the nodes
  INGRESS_CLASS=      the IngressClass to use (empty: the default one, or the only one)
  NAMESPACE=          (empty: the current context's namespace)
  MYSQL_PASSWORD=     for a new Secret; no ' " \ or newline (the MySQL entrypoint pastes it unescaped
                      into SQL and an option file). Empty: a generated one.
  DEMO_SECRET=0       1: a new Secret gets the demo value of my-secret-eval.yml
  CONTAINER_ENGINE=   docker | podman (empty: docker if its daemon answers, else podman)
  BUILD_FLAGS=        extra build options, e.g. build-time mounts for a proxy's CA certificate
  ROLLOUT_TIMEOUT=300s  KUBECTL_TIMEOUT=30s  DELETE_TIMEOUT=120s  INGRESS_ADDRESS_WAIT=60 (seconds)
  BASE_URL=           passed on to capture-proof.sh (where to send the HTTP checks)

Needs: bash 4.4+, kubectl 1.27+ (kustomize sortOptions), jq, curl, docker or podman, and the
cluster's own tool (k3s, k3d, kind or minikube) unless REGISTRY is set.
EOF
}

die() {
  local status="$1"
  shift
  err "$*"
  exit "${status}"
}

# Runs from the checkout (evidence/ lands there), with a temporary folder removed on every exit.
start() {
  cd "${ROOT}"
  WORKDIR="$(mktemp -d)"
  trap cleanup EXIT
  trap 'exit 130' INT TERM
}

cleanup() {
  [[ -z "${WORKDIR}" ]] || rm -rf "${WORKDIR}"
}

# The last line kubectl wrote to stderr: its error, after any warnings.
kubectl_error() { tail -n 1 "${WORKDIR}/kubectl.err" 2>/dev/null || true; }

matches() { [[ "$1" =~ $2 ]]; }

check_settings() {
  matches "${CLUSTER}" '^(|k3s|k3d|kind|minikube)$' ||
    die 2 "CLUSTER=${CLUSTER} is not one of k3s, k3d, kind, minikube (leave it empty to detect the cluster)"
  matches "${CONTAINER_ENGINE}" '^(|docker|podman)$' || die 2 "CONTAINER_ENGINE=${CONTAINER_ENGINE} is not docker or podman"
  matches "${DEMO_SECRET}" '^[01]$' || die 2 "DEMO_SECRET=${DEMO_SECRET} is not 0 or 1"
  matches "${INGRESS_CLASS}" '^([a-z0-9]([-a-z0-9.]*[a-z0-9])?)?$' ||
    die 2 "INGRESS_CLASS=${INGRESS_CLASS} is not a valid IngressClass name"
  matches "${REGISTRY}" '^([A-Za-z0-9.-]+(:[0-9]+)?(/[a-z0-9._-]+)*)?$' ||
    die 2 "REGISTRY=${REGISTRY} is not a registry host[:port][/path]"
  matches "${ROLLOUT_TIMEOUT}" '^[0-9]+[smh]$' || die 2 "ROLLOUT_TIMEOUT=${ROLLOUT_TIMEOUT} is not like 300s or 5m"
  matches "${INGRESS_ADDRESS_WAIT}" '^[0-9]+$' || die 2 "INGRESS_ADDRESS_WAIT=${INGRESS_ADDRESS_WAIT} is not a number of seconds"
}

# Moves MYSQL_PASSWORD out of the environment, so no tool this script runs inherits it, and refuses the
# characters the MySQL image's entrypoint cannot take. The value itself is never repeated.
take_password() {
  if [[ -n "${MYSQL_PASSWORD:-}" ]]; then
    PASSWORD="${MYSQL_PASSWORD}"
    PASSWORD_GIVEN=1
  fi
  unset MYSQL_PASSWORD
  ((PASSWORD_GIVEN)) || return 0
  ((DEMO_SECRET == 0)) || die 2 "MYSQL_PASSWORD and DEMO_SECRET=1 are both set: choose one"
  if [[ "${PASSWORD}" == *[\'\"\\]* || "${PASSWORD}" == *$'\n'* ]]; then
    die 2 "MYSQL_PASSWORD contains ' \" \\ or a newline: the MySQL image's entrypoint pastes it unescaped" \
      "into SQL and an option file, so initialisation breaks or stores another password." \
      "Use letters and digits, e.g. openssl rand -hex 24"
  fi
}

connect() {
  CONTEXT="$(kubectl config current-context 2>/dev/null)" ||
    die 2 "kubectl has no current context: point it at your cluster first (kubectl config use-context NAME)"
  [[ -n "${NAMESPACE}" ]] || NAMESPACE="$(context_namespace)"
  readonly NAMESPACE
  export NAMESPACE # for capture-proof.sh
  if ! kube get nodes -o json >"${WORKDIR}/nodes.json" 2>"${WORKDIR}/kubectl.err"; then
    die 1 "kubectl cannot reach the cluster of context ${CONTEXT}: $(kubectl_error)"
  fi
  log "context ${CONTEXT}, namespace ${NAMESPACE}"
}

detect_cluster() {
  local how="CLUSTER"
  if [[ -z "${CLUSTER}" ]]; then
    how="its nodes and context"
    CLUSTER="$(jq -r '
      if any(.items[]; .status.nodeInfo.kubeletVersion | test("\\+k3s")) then "k3s"
      elif any(.items[]; .metadata.labels | has("minikube.k8s.io/name")) then "minikube"
      elif any(.items[]; (.spec.providerID // "") | startswith("kind://")) then "kind"
      else "" end' "${WORKDIR}/nodes.json")"
    # k3d runs k3s in containers: its kubelets say +k3s too, so its node or context names tell it apart.
    [[ "${CLUSTER}" != k3s || -z "$(cluster_name "${K3D_NAME_FROM_NODES}" k3d)" ]] || CLUSTER=k3d
  fi
  if [[ -z "${CLUSTER}" && -z "${REGISTRY}" ]]; then
    die 2 "context ${CONTEXT} is not recognisably k3s, k3d, kind or minikube: set CLUSTER=k3s|k3d|kind|minikube," \
      "or REGISTRY=host[:port][/path] to push the image to a registry the cluster can pull from"
  fi
  log "cluster: ${CLUSTER:-other} (from ${how})${REGISTRY:+; the image goes through ${REGISTRY}}"
  [[ -n "${REGISTRY}" ]] && return 0
  [[ "${CLUSTER}" != k3s ]] || check_k3s_node_is_this_machine
  require_tools "${CLUSTER}"
}

# `k3s ctr images import` loads the containerd of the machine it runs on: right only when the cluster's
# one node is this machine. k3s names the node after the host (uname -n, lowercased) unless started with
# --node-name, and records the host's name in the annotation k3s.io/hostname either way.
check_k3s_node_is_this_machine() {
  local nodes node host
  nodes="$(jq '.items | length' "${WORKDIR}/nodes.json")"
  if ((nodes > 1)); then
    die 2 "this k3s cluster has ${nodes} nodes, and k3s ctr images import loads the image into this machine" \
      "only: push it to a registry the nodes can pull from with REGISTRY=host[:port][/path]"
  fi
  host="$(uname -n)"
  node="$(jq -r --arg host "${host,,}" '.items[0] | .metadata.name as $name
    | if [$name, (.metadata.annotations["k3s.io/hostname"] // "")] | map(ascii_downcase) | index($host)
      then "" else $name end' "${WORKDIR}/nodes.json")"
  if [[ -n "${node}" ]]; then
    die 2 "the k3s node ${node} is not this machine (${host}), and k3s ctr images import here would load" \
      "this machine's containerd, not the node's: push the image to a registry the node can pull from with" \
      "REGISTRY=host[:port][/path], or run make deploy on the node itself"
  fi
}

# The cluster's name as kind and k3d give it: from the nodes (k3d-NAME-server-0; kind's providerID
# kind://docker/NAME/NODE), else from the context the tool made (k3d-NAME, kind-NAME).
readonly K3D_NAME_FROM_NODES='first(.items[].metadata.name | capture("^k3d-(?<name>.+)-(server|agent)-[0-9]+$").name)'
readonly KIND_NAME_FROM_NODES='first(.items[].spec.providerID // "" | select(startswith("kind://"))) | split("/")[3]'

# cluster_name JQ_FILTER CONTEXT_PREFIX
cluster_name() {
  local name
  name="$(jq -r "(${1}) // \"\"" "${WORKDIR}/nodes.json")"
  [[ -n "${name}" || "${CONTEXT}" != "${2}"-* ]] || name="${CONTEXT#"${2}"-}"
  printf '%s' "${name}"
}

how_to_install_a_controller() {
  case "${CLUSTER}" in
    k3s | k3d) printf '%s' "k3s ships Traefik (class traefik) unless it was started with --disable=traefik: start it without that flag" ;;
    kind) printf '%s' "install Traefik from its Helm chart with .github/kind/traefik-values.yaml (doc/RUNBOOK.md, kind), or run cloud-provider-kind (v0.9.0+, class cloud-provider-kind) next to the cluster" ;;
    minikube) printf '%s' "run: minikube addons enable ingress (class nginx)" ;;
    *) printf '%s' "install an ingress controller, e.g. Traefik from its Helm chart (https://traefik.github.io/charts)" ;;
  esac
}

choose_ingress_class() {
  local classes="${WORKDIR}/ingressclasses.json" how
  local -a all defaults
  kube get ingressclass -o json >"${classes}" 2>"${WORKDIR}/kubectl.err" ||
    die 1 "kubectl cannot list the IngressClasses: $(kubectl_error)"
  mapfile -t all < <(jq -r '.items[].metadata.name' "${classes}")
  mapfile -t defaults < <(jq -r '.items[]
    | select(.metadata.annotations["ingressclass.kubernetes.io/is-default-class"] == "true")
    | .metadata.name' "${classes}")
  if [[ -n "${INGRESS_CLASS}" ]]; then
    [[ " ${all[*]} " == *" ${INGRESS_CLASS} "* ]] ||
      die 2 "INGRESS_CLASS=${INGRESS_CLASS}: the cluster has no such IngressClass (it has: ${all[*]:-none})"
    CLASS="${INGRESS_CLASS}" how="INGRESS_CLASS"
  elif ((${#defaults[@]} == 1)); then
    CLASS="${defaults[0]}" how="the cluster's default IngressClass"
  elif ((${#defaults[@]} > 1)); then
    die 1 "several IngressClasses are marked as the default (${defaults[*]}): set INGRESS_CLASS to one of them"
  elif ((${#all[@]} == 1)); then
    CLASS="${all[0]}" how="the only IngressClass"
  elif ((${#all[@]} == 0)); then
    die 1 "the cluster has no IngressClass, so the Ingress would get no controller: $(how_to_install_a_controller)"
  else
    die 1 "the cluster has several IngressClasses (${all[*]}) and none is the default: set INGRESS_CLASS to one of them"
  fi
  log "Ingress class ${CLASS} (${how})"
}

choose_engine() {
  if [[ -n "${CONTAINER_ENGINE}" ]]; then
    require_tools "${CONTAINER_ENGINE}"
    ENGINE="${CONTAINER_ENGINE}"
  elif command -v docker >/dev/null && docker info >/dev/null 2>&1; then
    ENGINE=docker
  elif command -v podman >/dev/null; then
    ENGINE=podman
  else
    die 2 "no container engine: install docker or podman (or start the docker daemon)"
  fi
}

# The image is tagged with the start of its own ID: a code change gives a new tag, so applying it starts
# a rollout even where the nodes cache images by tag; an unchanged image gives the same tag and no restart.
# localhost/ keeps the name identical in docker, podman and containerd (podman would add it anyway).
build_image() {
  local repository="${REGISTRY:-localhost}/${API_IMAGE}" id
  local -a flags=()
  read -r -a flags <<<"${BUILD_FLAGS}"
  log "building api/ with ${ENGINE}"
  "${ENGINE}" build "${flags[@]}" -t "${repository}:latest" "${ROOT}/api" >&2 ||
    die 1 "${ENGINE} build failed (output above)"
  id="$("${ENGINE}" image inspect --format '{{.Id}}' "${repository}:latest")"
  id="${id#sha256:}"
  matches "${id}" '^[0-9a-f]{12}' || die 1 "${ENGINE} reported an image ID that is not hexadecimal: ${id}"
  IMAGE_REF="${repository}:${id:0:12}"
  "${ENGINE}" tag "${repository}:latest" "${IMAGE_REF}"
  log "built ${IMAGE_REF}"
}

make_image_available() {
  local archive="${WORKDIR}/image.tar" name
  if [[ -n "${REGISTRY}" ]]; then
    log "pushing ${IMAGE_REF}"
    "${ENGINE}" push "${IMAGE_REF}" >&2 || die 1 "${ENGINE} push ${IMAGE_REF} failed (output above)"
    return 0
  fi
  log "loading ${IMAGE_REF} into ${CLUSTER}"
  case "${CLUSTER}" in
    k3s)
      local -a sudo=()
      ((EUID == 0)) || { require_tools sudo && sudo=(sudo); }
      "${ENGINE}" save "${IMAGE_REF}" | "${sudo[@]}" k3s ctr images import - >&2 ||
        die 1 "k3s ctr images import failed (output above)"
      ;;
    kind)
      name="$(cluster_name "${KIND_NAME_FROM_NODES}" kind)"
      "${ENGINE}" save -o "${archive}" "${IMAGE_REF}" >&2
      kind load image-archive "${archive}" ${name:+--name "${name}"} >&2 ||
        die 1 "kind load image-archive failed (output above)"
      ;;
    k3d)
      name="$(cluster_name "${K3D_NAME_FROM_NODES}" k3d)"
      "${ENGINE}" save -o "${archive}" "${IMAGE_REF}" >&2
      k3d image import "${archive}" ${name:+--cluster "${name}"} >&2 || die 1 "k3d image import failed (output above)"
      ;;
    minikube)
      name="$(jq -r 'first(.items[].metadata.labels["minikube.k8s.io/name"] // empty)' "${WORKDIR}/nodes.json")"
      "${ENGINE}" save -o "${archive}" "${IMAGE_REF}" >&2
      minikube ${name:+-p "${name}"} image load "${archive}" >&2 || die 1 "minikube image load failed (output above)"
      ;;
  esac
}

# Pipes a Secret manifest, labelled as this script's, into `kubectl create` (which, unlike apply, never
# replaces an existing Secret).
create_labelled_secret() {
  kubectl label --local -f - "${OWNER_KEY}=${OWNER_VALUE}" -o json | kube create -f - >&2
}

# The value comes on standard input and goes through pipes only: no file, no argument list.
secret_from_stdin() {
  kubectl create secret generic "${SECRET}" --from-file="${SECRET_KEY}=/dev/stdin" --dry-run=client -o json |
    create_labelled_secret
}

ensure_secret() {
  local existing="${WORKDIR}/secret.json"
  kube get secret "${SECRET}" --ignore-not-found -o json >"${existing}" 2>"${WORKDIR}/kubectl.err" ||
    die 1 "kubectl cannot read secret/${SECRET}: $(kubectl_error)"
  if [[ -s "${existing}" ]]; then
    log "secret/${SECRET} exists: kept as it is"
    if ((PASSWORD_GIVEN)); then
      # An earlier `kubectl apply` may have made it from the demo file: say so rather than pass silently.
      err "MYSQL_PASSWORD was not used: secret/${SECRET} already exists. To use it, run"
      err "  kubectl delete secret ${SECRET}, then this again, then kubectl rollout restart deployment/${DEPLOYMENT}"
    fi
    return 0
  fi
  if ((DEMO_SECRET)); then
    log "creating secret/${SECRET} with the demo value of my-secret-eval.yml (DEMO_SECRET=1)"
    create_labelled_secret <"${ROOT}/my-secret-eval.yml" || die 1 "could not create secret/${SECRET}"
  elif ((PASSWORD_GIVEN)); then
    log "creating secret/${SECRET} from MYSQL_PASSWORD"
    printf '%s' "${PASSWORD}" | secret_from_stdin || die 1 "could not create secret/${SECRET}"
  else
    require_tools openssl
    log "creating secret/${SECRET} with a generated password (48 hex digits; see --help to read it)"
    openssl rand -hex 24 | tr -d '\n' | secret_from_stdin || die 1 "could not create secret/${SECRET}"
  fi
}

# kustomize accepts a base only as a relative path: from the overlay up to / and down to the checkout.
path_to_root_from() {
  local dir="$1" path=""
  while [[ "${dir}" != / ]]; do
    path+="../"
    dir="${dir%/*}"
    dir="${dir:-/}"
  done
  printf '%s%s' "${path}" "${ROOT#/}"
}

write_overlay() {
  local dir
  mkdir "${WORKDIR}/overlay"
  dir="$(cd "${WORKDIR}/overlay" && pwd -P)"
  cat >"${dir}/kustomization.yaml" <<EOF
# Written by scripts/deploy.sh for one run: the committed manifests with this cluster's image and Ingress
# class. The Secret is left out: deploy.sh creates it only when there is none.
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - $(path_to_root_from "${dir}")
sortOptions:
  order: fifo
images:
  - name: ${API_IMAGE}
    newName: ${IMAGE_REF%:*}
    newTag: ${IMAGE_REF##*:}
patches:
  - target: {kind: Ingress, name: ${INGRESS}}
    patch: '[{"op": "replace", "path": "/spec/ingressClassName", "value": "${CLASS}"}]'
  - target: {kind: Secret, name: ${SECRET}}
    patch: '{"\$patch": "delete", "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "${SECRET}"}}'
EOF
  printf '%s' "${dir}"
}

apply_manifests() {
  local overlay
  overlay="$(write_overlay)"
  log "applying the Deployment, the Service and the Ingress (image ${IMAGE_REF}, class ${CLASS})"
  kube apply -k "${overlay}" >&2 || die 1 "kubectl apply failed (output above)"
}

# Names of the Pods whose Ready condition is not True.
unready_pods() {
  kube get pods -l "${SELECTOR}" -o json 2>/dev/null |
    jq -r '.items[] | select(any(.status.conditions[]?; .type == "Ready" and .status == "True") | not)
      | .metadata.name'
}

explain_unready_pods() {
  local pod
  for pod in $(unready_pods || true); do
    printf '\n===== kubectl describe pod %s\n' "${pod}" >&2
    kube describe pod "${pod}" >&2 || true
    printf '\n===== events of pod %s\n' "${pod}" >&2
    kube get events --field-selector "involvedObject.name=${pod}" --sort-by=.lastTimestamp >&2 || true
  done
}

wait_for_rollout() {
  log "waiting up to ${ROLLOUT_TIMEOUT} for deployment/${DEPLOYMENT} (MySQL initialises on first start)"
  # --timeout bounds the watch; --request-timeout would cut it.
  if ! kubectl --namespace "${NAMESPACE}" rollout status "deployment/${DEPLOYMENT}" --timeout="${ROLLOUT_TIMEOUT}" >&2; then
    explain_unready_pods
    die 1 "deployment/${DEPLOYMENT} did not roll out within ${ROLLOUT_TIMEOUT}: see the Pods' descriptions and events above"
  fi
}

ingress_address() {
  kube get ingress "${INGRESS}" \
    -o jsonpath='{.status.loadBalancer.ingress[0].ip}{.status.loadBalancer.ingress[0].hostname}' 2>/dev/null || true
}

ingress_has_address() { [[ -n "$(ingress_address)" ]]; }

# The controller publishes the Ingress address a few seconds after the Ingress appears; without one,
# capture-proof.sh falls back to a port-forward.
wait_for_ingress_address() {
  [[ -z "${BASE_URL:-}" ]] || return 0
  wait_until "${INGRESS_ADDRESS_WAIT}" "an address on ingress/${INGRESS}" ingress_has_address ||
    log "ingress/${INGRESS} has no address yet: capture-proof.sh will try a port-forward"
}

capture_evidence() {
  local evidence status=0 how url
  evidence="$("${ROOT}/scripts/capture-proof.sh")" || status=$?
  [[ -n "${evidence}" ]] || die 1 "capture-proof.sh wrote no evidence folder (exit status ${status})"
  { read -r url && read -r how; } <"${evidence}/10_base_url.txt" || true
  if [[ "${how:-}" == *port-forward* ]]; then
    url="(after: kubectl -n ${NAMESPACE} port-forward svc/${SERVICE} 8080:8000) http://127.0.0.1:8080"
  fi
  printf 'URL to try: %s/users/1\n' "${url:-unknown}"
  printf 'Evidence:   %s/SUMMARY.md\n' "${evidence}"
  return "${status}"
}

deploy() {
  take_password
  require_tools kubectl jq curl
  start
  connect
  detect_cluster
  choose_ingress_class
  choose_engine
  build_image
  make_image_available
  ensure_secret
  apply_manifests
  wait_for_rollout
  wait_for_ingress_address
  capture_evidence
}

undeploy() {
  require_tools kubectl jq
  start
  connect
  local kind name owner
  for kind in "ingress/${INGRESS}" "service/${SERVICE}" "deployment/${DEPLOYMENT}"; do
    name="${kind#*/}"
    kube delete "${kind%/*}" "${name}" --ignore-not-found --timeout="${DELETE_TIMEOUT}" >&2 ||
      die 1 "could not delete ${kind}"
  done
  kube get secret "${SECRET}" --ignore-not-found -o json >"${WORKDIR}/secret.json" 2>"${WORKDIR}/kubectl.err" ||
    die 1 "kubectl cannot read secret/${SECRET}: $(kubectl_error)"
  [[ -s "${WORKDIR}/secret.json" ]] || return 0
  owner="$(jq -r --arg key "${OWNER_KEY}" '.metadata.labels[$key] // ""' "${WORKDIR}/secret.json")"
  if [[ "${owner}" == "${OWNER_VALUE}" ]]; then
    kube delete secret "${SECRET}" --ignore-not-found --timeout="${DELETE_TIMEOUT}" >&2 ||
      die 1 "could not delete secret/${SECRET}"
  else
    log "secret/${SECRET} was not created by deploy.sh: left in place"
  fi
}

main() {
  local action="${1:-deploy}"
  case "${action}" in
    -h | --help)
      usage
      exit 0
      ;;
    deploy | undeploy) ;;
    *) die 2 "unknown argument: ${action} (see --help)" ;;
  esac
  (($# <= 1)) || die 2 "unknown argument: $2 (see --help)"
  check_settings
  "${action}"
}

main "$@"
