#!/usr/bin/env bash
# One command from a clone to evidence on k3s, kind, minikube, or any cluster with a registry; `exam` also
# writes the files to hand in. The committed files never change. See --help.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
# shellcheck source=lib/common.sh
source "${BASH_SOURCE[0]%/*}/lib/common.sh"

ROOT="$(cd "${BASH_SOURCE[0]%/*}/.." && pwd -P)"
readonly ROOT
CLUSTER="${CLUSTER:-}"                                 # empty: k3s, kind or minikube when the nodes say so
readonly REGISTRY="${REGISTRY:-}"
NAMESPACE="${NAMESPACE:-}"                             # empty: the current context's namespace
readonly CONTAINER_ENGINE="${CONTAINER_ENGINE:-}"      # empty: docker if its daemon answers, else podman
readonly BUILD_FLAGS="${BUILD_FLAGS:-}"                # extra `build` options, split on spaces
readonly ROLLOUT_TIMEOUT="${ROLLOUT_TIMEOUT:-300s}"
readonly KUBECTL_TIMEOUT="${KUBECTL_TIMEOUT:-30s}"     # per kubectl call to the API server
readonly INGRESS_CLASS_WAIT="${INGRESS_CLASS_WAIT:-60}"  # seconds, for a default IngressClass to appear
PASSWORD=""  # MYSQL_PASSWORD, never exported, printed or in an argument list; written into exam/ only

# What the committed manifests name, in dependency order.
readonly SECRET=mysql-secret SECRET_KEY=MYSQL_PASSWORD DEPLOYMENT=api-mysql SELECTOR=app=api-mysql
readonly SERVICE=api-svc INGRESS=api-ingress
readonly -a MANIFESTS=(my-secret-eval.yml my-deployment-eval.yml my-service-eval.yml my-ingress-eval.yml)
readonly API_IMAGE='.spec.template.spec.containers[]? | select(.name == "api") | .image'  # jq, in the Deployment
readonly EXAM=exam EXAM_PASSWORD=datascientest1234     # the folder to hand in; the brief's password
readonly OWNER=app.kubernetes.io/managed-by=deploy.sh  # on the Secret deploy creates: undeploy deletes only that
readonly DEFAULT_CLASS=ingressclass.kubernetes.io/is-default-class
WORKDIR="" CONTEXT="" ENGINE="" IMAGE_REF="" CLASSES="" DEFAULTS=""

usage() {
  cat <<'EOF'
Usage: scripts/deploy.sh [deploy | exam | undeploy | --help]    (make deploy, make exam, make undeploy)
  deploy    On kubectl's cluster, once it has a default IngressClass (waited for INGRESS_CLASS_WAIT s): builds api/,
            tagged with its image ID; pushes it to REGISTRY (for linux/amd64) or loads it into CLUSTER; creates
            Secret mysql-secret if there is none (from MYSQL_PASSWORD, or generated); applies the Deployment with
            that image in its container api, the Service and the Ingress; waits; runs capture-proof.sh.
  exam      With REGISTRY=docker.io/<user>: as deploy, but writes exam/ anew (main.py, database.py and the four
            manifests as committed but for the image and the password, MYSQL_PASSWORD or the brief's), runs
            scripts/check-exam exam/, applies exactly those files, and keeps the evidence in exam/evidence/.
  undeploy  Deletes the Ingress, the Service, the Deployment, and the Secret if deploy created it.
Settings: CLUSTER=k3s|kind|minikube (empty: what the nodes say; k3d or a cluster elsewhere: use REGISTRY)
  REGISTRY=host[:port][/path]  NAMESPACE= (the context's)  MYSQL_PASSWORD= (no ' " \ or newline)
  CONTAINER_ENGINE=docker|podman  BUILD_FLAGS=  ROLLOUT_TIMEOUT=300s  KUBECTL_TIMEOUT=30s  INGRESS_CLASS_WAIT=60
  and capture-proof.sh's (BASE_URL=, ...: scripts/capture-proof.sh --help).
Needs: bash 4.4+, kubectl, jq, curl, docker or podman, and k3s, kind or minikube unless REGISTRY is set.
EOF
}

# start TOOL...: from the checkout (evidence/ and exam/ land there), with a temporary folder until exit.
start() {
  require_tools "$@"
  cd "${ROOT}"
  WORKDIR="$(mktemp -d)" && trap 'rm -rf "${WORKDIR}"' EXIT && trap 'exit 130' INT TERM
}

# kube_to FILE KUBE_ARGS...: kube's output into WORKDIR/FILE; kubectl_error: its last error line.
kube_to() { kube "${@:2}" >"${WORKDIR}/$1" 2>"${WORKDIR}/kubectl.err"; }
kubectl_error() { tail -n 1 "${WORKDIR}/kubectl.err"; }

check_settings() {
  [[ "${CLUSTER}" =~ ^(|k3s|kind|minikube)$ ]] ||
    die 2 "CLUSTER=${CLUSTER} is not k3s, kind or minikube (for k3d or any other cluster, set REGISTRY instead)"
  [[ "${REGISTRY}" =~ ^([A-Za-z0-9.-]+(:[0-9]+)?(/[a-z0-9._-]+)*)?$ ]] || die 2 "REGISTRY=${REGISTRY} is not host[:port][/path]"
  [[ "${ROLLOUT_TIMEOUT}" =~ ^[0-9]+[smh]$ ]] || die 2 "ROLLOUT_TIMEOUT=${ROLLOUT_TIMEOUT} is not like 300s or 5m"
  [[ "${INGRESS_CLASS_WAIT}" =~ ^[0-9]+$ ]] || die 2 "INGRESS_CLASS_WAIT=${INGRESS_CLASS_WAIT} is not a number of seconds"
}

# take_password [DEFAULT]: refuses what the MySQL image's entrypoint cannot take, never repeating the value.
take_password() {
  PASSWORD="${MYSQL_PASSWORD:-${1:-}}"
  unset MYSQL_PASSWORD
  [[ "${PASSWORD}" != *[\'\"\\]* && "${PASSWORD}" != *$'\n'* ]] || die 2 "MYSQL_PASSWORD contains ' \" \\ or a newline:" \
    "the MySQL image's entrypoint pastes it unescaped into SQL and an option file. Use letters and digits"
}

# Fails, after saying why, when kubectl has no context or cannot reach its cluster.
reach_cluster() {
  CONTEXT="$(kubectl config current-context 2>/dev/null)" ||
    { err "kubectl has no current context: point it at your cluster (kubectl config use-context NAME)" && return 1; }
  [[ -n "${NAMESPACE}" ]] || NAMESPACE="$(context_namespace)"
  export NAMESPACE # for capture-proof.sh
  kube_to nodes.json get nodes -o json || { err "kubectl cannot reach context ${CONTEXT}'s cluster: $(kubectl_error)" && return 1; }
  log "context ${CONTEXT}, namespace ${NAMESPACE}"
}

# The kind of cluster when its nodes say it for certain; otherwise CLUSTER or REGISTRY must.
detect_cluster() {
  [[ -n "${CLUSTER}" ]] || CLUSTER="$(jq -r 'if any(.items[]; .status.nodeInfo.kubeletVersion | test("\\+k3s")) then "k3s"
    elif any(.items[]; .metadata.labels | has("minikube.k8s.io/name")) then "minikube"
    elif any(.items[]; (.spec.providerID // "") | startswith("kind://")) then "kind" else "" end' "${WORKDIR}/nodes.json")"
  [[ -n "${REGISTRY}${CLUSTER}" ]] || die 2 "the nodes of context ${CONTEXT} are not k3s, kind or minikube ones:" \
    "set CLUSTER=k3s|kind|minikube for such a cluster on this machine, or REGISTRY (k3d, a remote k3s, any cluster)"
  log "cluster: ${CLUSTER:-other}${REGISTRY:+; the image goes through ${REGISTRY}}"
  [[ -n "${REGISTRY}" ]] || command -v "${CLUSTER}" >/dev/null || die 2 "missing required tool: ${CLUSTER}, to load the" \
    "image into a ${CLUSTER} cluster on this machine (for k3d or a cluster elsewhere, set REGISTRY instead)"
}

# For wait_until: 0 when exactly one IngressClass is the default, 1 while there is none at all (k3s creates
# Traefik's a little after it starts), 2 otherwise. Sets CLASSES and DEFAULTS (names).
one_default_class() {
  kube_to classes.json get ingressclass -o json || die 1 "kubectl cannot list the IngressClasses: $(kubectl_error)"
  { read -r CLASSES && read -r DEFAULTS; } < <(jq -r --arg key "${DEFAULT_CLASS}" '([.items[].metadata.name] | join(" ")),
    ([.items[] | select(.metadata.annotations[$key] == "true") | .metadata.name] | join(" "))' "${WORKDIR}/classes.json")
  [[ -z "${DEFAULTS}" || "${DEFAULTS}" == *" "* ]] || return 0
  return $((${#CLASSES} ? 2 : 1))
}

# The Ingress names no class, so the cluster's default IngressClass serves it: there must be one.
require_default_class() {
  local how="install an ingress controller that marks its class as the default, e.g. Traefik's Helm chart"
  wait_until "${INGRESS_CLASS_WAIT}" "a default IngressClass" one_default_class && log "Ingress class: ${DEFAULTS}" && return 0
  [[ -z "${CLASSES}" ]] || die 1 "the Ingress names no class, so exactly one IngressClass must be the default; of" \
    "${CLASSES}, ${DEFAULTS:-none} is: kubectl annotate ingressclass NAME ${DEFAULT_CLASS}=true (false on others) --overwrite"
  case "${CLUSTER}" in
    k3s) how="k3s adds Traefik's after it starts, unless --disable=traefik: kubectl wait --for=create ingressclass/traefik" ;;
    kind) how="install Traefik from its Helm chart with .github/kind/traefik-values.yaml (doc/RUNBOOK.md, kind)" ;;
    minikube) how="run minikube addons enable ingress" ;;
  esac
  die 1 "the cluster has no IngressClass after ${INGRESS_CLASS_WAIT}s, so nothing would serve the Ingress: ${how}"
}

# With CONTAINER_ENGINE, else docker if its daemon answers, else podman. Tagged with the start of its ID: a code
# change rolls out even where nodes cache images by tag. localhost/: the same name in docker, podman and
# containerd. For a registry, linux/amd64 (even on Apple silicon), the platform of the MySQL image's nodes.
build_image() {
  local repository="${REGISTRY:-localhost}/user-api" id
  local -a flags=()
  ENGINE="${CONTAINER_ENGINE}"
  [[ -n "${ENGINE}" ]] || { command -v docker >/dev/null && docker info >/dev/null 2>&1 && ENGINE=docker; } || ENGINE=podman
  command -v "${ENGINE}" >/dev/null || die 2 "no container engine ${ENGINE}: install docker or podman (or start docker)"
  read -r -a flags <<<"${BUILD_FLAGS}"
  [[ -z "${REGISTRY}" ]] || flags+=(--platform linux/amd64)
  log "building api/ with ${ENGINE}"
  "${ENGINE}" build "${flags[@]}" -t "${repository}:latest" "${ROOT}/api" >&2 || die 1 "${ENGINE} build failed (output above)"
  id="$("${ENGINE}" image inspect --format '{{.Id}}' "${repository}:latest")"
  id="${id#sha256:}"
  IMAGE_REF="${repository}:${id:0:12}"
  "${ENGINE}" tag "${repository}:latest" "${IMAGE_REF}"
}

make_image_available() {
  local archive="${WORKDIR}/image.tar" name
  local -a sudo=()
  if [[ -n "${REGISTRY}" ]]; then
    log "pushing ${IMAGE_REF}"
    "${ENGINE}" push "${IMAGE_REF}" >&2 || die 1 "${ENGINE} push failed (output above): for Docker Hub, ${ENGINE} login first"
    return 0
  fi
  name="$(jq -r 'first(.items[] | (.spec.providerID // "" | select(startswith("kind://")) | split("/")[3]),
    (.metadata.labels["minikube.k8s.io/name"] // empty)) // ""' "${WORKDIR}/nodes.json")"
  log "loading ${IMAGE_REF} into ${CLUSTER} ${name}" # kind's cluster name or minikube's profile, from the nodes
  "${ENGINE}" save -o "${archive}" "${IMAGE_REF}" >&2
  case "${CLUSTER}" in
    k3s) ((EUID == 0)) || { require_tools sudo && sudo=(sudo); }
      "${sudo[@]}" k3s ctr images import "${archive}" ;; # into this machine's k3s
    kind) kind load image-archive "${archive}" ${name:+--name "${name}"} ;;
    minikube) minikube ${name:+-p "${name}"} image load "${archive}" ;;
  esac >&2 || die 1 "${CLUSTER} could not load the image (output above)"
}

# An existing Secret is kept: `create` never replaces one. The password goes through pipes only.
ensure_secret() {
  kube_to secret get secret "${SECRET}" --ignore-not-found -o name || die 1 "kubectl cannot read the Secret: $(kubectl_error)"
  if [[ -s "${WORKDIR}/secret" ]]; then
    log "secret/${SECRET} exists: kept as it is"
    [[ -z "${PASSWORD}" ]] || err "MYSQL_PASSWORD was not used: secret/${SECRET} already exists. To use it, run" \
      "kubectl delete secret ${SECRET}, then this again, then kubectl rollout restart deployment/${DEPLOYMENT}"
    return 0
  fi
  local from=MYSQL_PASSWORD
  [[ -n "${PASSWORD}" ]] || { require_tools openssl && PASSWORD="$(openssl rand -hex 24)" && from="a generated password"; }
  log "creating secret/${SECRET} from ${from}"
  printf '%s' "${PASSWORD}" | kubectl create secret generic "${SECRET}" --from-file="${SECRET_KEY}=/dev/stdin" -o json \
    --dry-run=client | kubectl label --local -f - "${OWNER}" -o json | kube create -f - >&2 || die 1 "could not create secret/${SECRET}"
}

# parse FILE...: the manifests as JSON objects, one after another (kubectl reads YAML offline this way).
parse() { kubectl patch --local --type=merge -p '{}' -o json "${@/#/--filename=}"; }

# The image of the container named api in my-deployment-eval.yml, whatever its registry prefix.
committed_api_image() {
  parse my-deployment-eval.yml | jq -re "${API_IMAGE}" ||
    die 2 "my-deployment-eval.yml has no container named api, so there is nowhere to put the image"
}

apply_manifests() {
  log "applying the Deployment, the Service and the Ingress, with image ${IMAGE_REF}"
  parse "${MANIFESTS[@]:1}" | jq -s --arg image "${IMAGE_REF}" \
    '{apiVersion: "v1", kind: "List", items: map((select(.kind == "Deployment") | '"${API_IMAGE}"') |= $image)}' |
    kube apply -f - >&2 || die 1 "kubectl apply failed (output above)"
}

wait_for_rollout() { # --timeout bounds the watch, where --request-timeout would cut it
  log "waiting up to ${ROLLOUT_TIMEOUT} for deployment/${DEPLOYMENT} (MySQL initialises on first start)"
  kubectl --namespace "${NAMESPACE}" rollout status "deployment/${DEPLOYMENT}" --timeout="${ROLLOUT_TIMEOUT}" >&2 && return 0
  { kube describe pods -l "${SELECTOR}"; kube get events --sort-by=.lastTimestamp; } >&2 || true
  die 1 "deployment/${DEPLOYMENT} did not roll out within ${ROLLOUT_TIMEOUT}: see the Pods' descriptions and the events above"
}

# set_value FILE KEY OLD NEW: FILE's first `KEY: OLD` (OLD bare or in double quotes, and NEW the same; a comment
# after it stays) becomes `KEY: NEW`. In bash, so that a password never shows in an argument list.
set_value() {
  local text
  text="$(<"$1")"
  if [[ "${text}" == *"$2: \"$3\""* ]]; then text="${text/"$2: \"$3\""/"$2: \"$4\""}"; else text="${text/"$2: $3"/"$2: $4"}"; fi
  printf '%s\n' "${text}" >"$1"
}

# exam/, anew: main.py, and the four manifests as committed but for the password and the image, which
# parsed back must be the only difference.
write_renderings() {
  local extra committed hidden="(select(.kind == \"Secret\") | .stringData.${SECRET_KEY}) |= \"\""
  extra="$(find "${EXAM}" -mindepth 1 -maxdepth 1 ! -name '*.py' ! -name 'my-*-eval.yml' ! -name evidence 2>/dev/null || true)"
  [[ -z "${extra}" ]] || die 2 "${EXAM}/ holds files make exam did not write (${extra//$'\n'/ }): move them, as it replaces ${EXAM}/"
  rm -rf "${EXAM}" && mkdir "${EXAM}" && cp api/main.py api/database.py "${MANIFESTS[@]}" "${EXAM}/"
  set_value "${EXAM}/my-deployment-eval.yml" image "$(committed_api_image)" "${IMAGE_REF}"
  set_value "${EXAM}/my-secret-eval.yml" "${SECRET_KEY}" "$(parse my-secret-eval.yml | jq -r ".stringData.${SECRET_KEY}")" \
    "${PASSWORD}"
  committed="$(parse "${MANIFESTS[@]}" |
    jq -c --arg image "${IMAGE_REF}" "((select(.kind == \"Deployment\") | ${API_IMAGE}) |= \$image) | ${hidden}")"
  [[ "$(parse "${MANIFESTS[@]/#/${EXAM}/}" | jq -c "${hidden}")" == "${committed}" &&
    "$(parse "${EXAM}/my-secret-eval.yml" | jq -r ".stringData.${SECRET_KEY}")" == "${PASSWORD}" ]] ||
    die 1 "${EXAM}/ does not parse back as the committed manifests with only the image and the password changed"
  log "wrote ${EXAM}/: main.py, database.py (main.py imports it), and the manifests with image ${IMAGE_REF}"
  [[ -x scripts/check-exam ]] || die 2 "scripts/check-exam is missing from this checkout"
  scripts/check-exam "${EXAM}/" >&2 || die 1 "scripts/check-exam found problems in ${EXAM}/ (above): nothing was applied"
}

apply_renderings() {
  local applied
  log "applying ${MANIFESTS[*]/#/${EXAM}/}, in that order"
  applied="$(kube apply "${MANIFESTS[@]/#/--filename=${EXAM}/}" | tee /dev/stderr)" || die 1 "kubectl apply failed (output above)"
  # MySQL reads the password only when it initialises its data: Pods from before hold on to the old one.
  [[ "${applied}" == *"secret/${SECRET} configured"* && "${applied}" != *"/${DEPLOYMENT} created"* ]] || return 0
  log "secret/${SECRET} changed: restarting the Pods, so that MySQL initialises with the new password"
  kube rollout restart "deployment/${DEPLOYMENT}" >&2 || die 1 "kubectl rollout restart failed (output above)"
}

deploy() {
  take_password && start kubectl jq curl && { reach_cluster || exit 1; }
  detect_cluster
  require_default_class
  committed_api_image >/dev/null
  build_image
  make_image_available
  ensure_secret
  apply_manifests
  wait_for_rollout
  prove
}

# capture-proof.sh (it prints the evidence folder; exit 0: all passed), warning if the Ingress was not what it checked.
prove() {
  local folder status=0
  folder="$("${ROOT}/scripts/capture-proof.sh")" || status=$?
  printf '%s\n' "${folder}"
  [[ "$(sed -n 2p "${folder}/10_base_url.txt" 2>/dev/null)" != *port-forward* ]] || log "warning: the checks went through" \
    "a port-forward: the Ingress served none of them, and a grader's curl goes through it (README, Troubleshooting)"
  return "${status}"
}

exam() {
  [[ -n "${REGISTRY}" ]] || die 2 "make exam pushes the image for the grader's cluster to pull: docker login," \
    "then REGISTRY=docker.io/<your Docker Hub user> make exam"
  take_password "${EXAM_PASSWORD}"
  [[ "${PASSWORD}" == "${EXAM_PASSWORD}" ]] || log "warning: the Secret in exam/ gets MYSQL_PASSWORD, not the brief's password"
  start kubectl jq curl
  committed_api_image >/dev/null
  build_image
  make_image_available
  write_renderings
  reach_cluster || die 1 "${EXAM}/ is written and checked, but not deployed: point kubectl at a cluster, then run this again"
  detect_cluster
  require_default_class
  apply_renderings
  wait_for_rollout
  EVIDENCE_ROOT="${EXAM}/evidence" prove || die 1 "a check failed (evidence above): fix it, run this again"
  printf '\nHand in these files of %s/ (database.py: main.py imports it), and keep the image public:\n' "${EXAM}"
  printf '  %s\n' "${EXAM}/main.py" "${EXAM}/database.py" "${MANIFESTS[@]/#/${EXAM}/}" "image: ${IMAGE_REF}"
}

undeploy() { # the Secret only if deploy created it: it carries deploy's label
  start kubectl && { reach_cluster || exit 1; }
  { kube delete "ingress/${INGRESS}" "service/${SERVICE}" "deployment/${DEPLOYMENT}" --ignore-not-found --timeout=120s &&
    kube delete secret -l "${OWNER}" --field-selector "metadata.name=${SECRET}" --timeout=120s; } >&2 ||
    die 1 "kubectl delete failed (output above)"
}

main() {
  case "${1:-deploy}" in
    -h | --help) usage && exit 0 ;;
    deploy | exam | undeploy) (($# <= 1)) || die 2 "unknown argument: $2 (see --help)" ;;
    *) die 2 "unknown argument: $1 (see --help)" ;;
  esac
  check_settings
  "${1:-deploy}"
}

main "$@"
