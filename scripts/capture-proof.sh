#!/usr/bin/env bash
# Records proof that the User API deployment works: cluster state and the API's answers, into a new
# folder evidence/<UTC timestamp>/ with a SUMMARY.md of every check. Run `capture-proof.sh --help`.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
# shellcheck source=lib/common.sh
source "${BASH_SOURCE[0]%/*}/lib/common.sh"

NAMESPACE="${NAMESPACE:-}"                                   # empty: the current context's namespace
readonly DEPLOYMENT="${DEPLOYMENT:-api-mysql}"
readonly SELECTOR="${SELECTOR:-app=api-mysql}"
readonly SERVICE="${SERVICE:-api-svc}"
readonly SERVICE_PORT="${SERVICE_PORT:-8000}"
readonly INGRESS="${INGRESS:-api-ingress}"
readonly REPLICAS="${REPLICAS:-3}"
readonly CONTAINERS_PER_POD="${CONTAINERS_PER_POD:-2}"
readonly EVIDENCE_ROOT="${EVIDENCE_ROOT:-evidence}"
readonly ROLLOUT_TIMEOUT="${ROLLOUT_TIMEOUT:-300s}"       # MySQL 8 initialises in 10-60 s; a slow pull adds more
readonly REQUEST_TIMEOUT="${REQUEST_TIMEOUT:-10}"          # seconds, per HTTP request
readonly KUBECTL_TIMEOUT="${KUBECTL_TIMEOUT:-30s}"         # per kubectl call to the API server
readonly PORT_FORWARD_PORT="${PORT_FORWARD_PORT:-0}"       # 0: kubectl picks a free one
readonly PORT_FORWARD_WAIT="${PORT_FORWARD_WAIT:-10}"      # seconds for kubectl to say where it listens
BASE_URL="${BASE_URL:-}"

OUT=""                 # the evidence folder of this run
PORT_FORWARD_PID=""
FORWARD_URL=""         # where kubectl said the port-forward listens, once it said so
NO_ADDRESS=""          # why the HTTP checks have nowhere to go, when they have not
FAILED=0
declare -a ROWS=()

usage() {
  cat <<'EOF'
Usage: scripts/capture-proof.sh [--help]

Captures evidence that the User API runs on Kubernetes: the rollout, the Pods, the Service and its
endpoints, the Ingress, and the answers of GET /status, /users and /users/1, each with its HTTP status.
Everything goes into a new folder evidence/<UTC timestamp>/ (a suffix is added if that name exists).

Checks (each is one row in SUMMARY.md; the exit code is 0 only if all pass):
  rollout     kubectl rollout status completes within ROLLOUT_TIMEOUT
  pods        REPLICAS Pods are Ready, each with CONTAINERS_PER_POD/CONTAINERS_PER_POD containers ready
  endpoints   the Service's ready endpoints belong to REPLICAS distinct Pods (counted by targetRef, so a
              dual-stack Service, with one EndpointSlice per IP family, counts each Pod once)
  status      GET /status answers 200 with body exactly 1
  users       GET /users answers 200 with a non-empty JSON list of {user_id, username, email}
  user_1      GET /users/1 answers 200 with user_id 1

Where the HTTP checks go: BASE_URL if set; otherwise the Ingress address, if it answers; otherwise a
`kubectl port-forward svc/SERVICE` that the script starts and always stops again, and only once kubectl
has said where it listens ("Forwarding from ..."): the checks go to that address. A port-forward that
does not come up (e.g. its port is taken) fails the HTTP checks with kubectl's own error, and no request
is sent. 10_base_url.txt records which was used, and why; 10_port_forward.log what kubectl said.
kubectl's own messages (warnings included) go to *.err files, never into the *.json files.
On any failure it also saves `kubectl describe` output, both containers' logs of every Pod (and of
their previous run, for crash loops) and the namespace's events.
The evidence folder's path is printed on standard output.

Settings (environment variables, defaults from the manifests):
  NAMESPACE= (the current context's)  DEPLOYMENT=api-mysql  SELECTOR=app=api-mysql  SERVICE=api-svc
  SERVICE_PORT=8000  INGRESS=api-ingress  REPLICAS=3  CONTAINERS_PER_POD=2  EVIDENCE_ROOT=evidence
  BASE_URL=  ROLLOUT_TIMEOUT=300s  KUBECTL_TIMEOUT=30s  REQUEST_TIMEOUT=10 (seconds)
  PORT_FORWARD_PORT=0 (0: a free port, chosen by kubectl)  PORT_FORWARD_WAIT=10 (seconds)

Needs: kubectl (configured for the cluster), curl, jq.
EOF
}

# A new folder per run, even for two runs in the same second: mkdir is atomic, so a taken name is skipped.
make_output_folder() {
  local stamp candidate suffix=1
  stamp="$(date -u +%Y%m%dT%H%M%SZ)"
  mkdir -p "${EVIDENCE_ROOT}"
  candidate="${EVIDENCE_ROOT}/${stamp}"
  until mkdir "${candidate}" 2>/dev/null; do
    suffix=$((suffix + 1))
    candidate="${EVIDENCE_ROOT}/${stamp}-${suffix}"
  done
  OUT="${candidate}"
  printf '# Evidence %s\n\n**INCOMPLETE**: the run is in progress, or was interrupted before it finished.\n' \
    "${OUT##*/}" >"${OUT}/SUMMARY.md"
}

# record CHECK PASS|FAIL DETAIL
record() {
  ROWS+=("| $1 | $2 | ${3//|/\\|} |")
  [[ "$2" == PASS ]] || FAILED=$((FAILED + 1))
  log "$1: $2 ($3)"
}

# capture FILE COMMAND...: saves the command line, its output and its exit status; never aborts the run.
capture() {
  local file="${OUT}/$1" status=0 shown
  shift
  shown="$*"
  # kube is this script's kubectl wrapper: show the command a reader would type instead.
  [[ "$1" == kube ]] && shown="kubectl --namespace ${NAMESPACE} ${*:2}"
  { printf '$ %s\n' "${shown}"; "$@" 2>&1 || status=$?; } >"${file}"
  printf '[exit status %s]\n' "${status}" >>"${file}"
  return "${status}"
}

# save_json NAME KUBE_ARGS...: kubectl's output into NAME.json, its stderr into NAME.err (kept only when
# not empty). A warning such as "couldn't get resource list for metrics.k8s.io" must not break the JSON.
save_json() {
  local name="$1" status=0
  shift
  kube "$@" >"${OUT}/${name}.json" 2>"${OUT}/${name}.err" || status=$?
  [[ -s "${OUT}/${name}.err" ]] || rm -f "${OUT}/${name}.err"
  return "${status}"
}

write_meta() {
  {
    printf 'date (UTC):       %s\n' "$(date -u +%FT%TZ)"
    printf 'kubectl context:  %s\n' "$(kubectl config current-context 2>&1 || true)"
    printf 'namespace:        %s\n' "${NAMESPACE}"
    printf 'git commit:       %s\n' "$(git rev-parse HEAD 2>/dev/null || echo 'not a git checkout')"
    printf 'base URL:         %s\n' "${BASE_URL:-(from the Ingress or a port-forward, see 10_base_url.txt)}"
    printf '\n$ kubectl version\n'
    kube version 2>&1 || true
  } >"${OUT}/00_meta.txt"
}

check_rollout() {
  if capture 01_rollout.txt kubectl --namespace "${NAMESPACE}" rollout status "deployment/${DEPLOYMENT}" \
    --timeout="${ROLLOUT_TIMEOUT}"; then
    record rollout PASS "deployment/${DEPLOYMENT} rolled out"
  else
    record rollout FAIL "deployment/${DEPLOYMENT} did not finish rolling out within ${ROLLOUT_TIMEOUT} (01_rollout.txt)"
  fi
}

check_pods() {
  capture 02_pods.txt kube get pods -l "${SELECTOR}" -o wide || true
  local ready
  if ! save_json 02_pods get pods -l "${SELECTOR}" -o json; then
    record pods FAIL "kubectl get pods failed (02_pods.err)"
    return
  fi
  ready="$(jq --argjson n "${CONTAINERS_PER_POD}" '[.items[]
      | select(.metadata.deletionTimestamp == null)
      | select(any(.status.conditions[]?; .type == "Ready" and .status == "True"))
      | select([.status.containerStatuses[]? | select(.ready)] | length == $n)] | length' "${OUT}/02_pods.json")"
  if [[ "${ready}" == "${REPLICAS}" ]]; then
    record pods PASS "${ready}/${REPLICAS} Pods Ready with ${CONTAINERS_PER_POD}/${CONTAINERS_PER_POD} containers"
  else
    record pods FAIL "${ready:-0}/${REPLICAS} Pods Ready with ${CONTAINERS_PER_POD}/${CONTAINERS_PER_POD} containers (02_pods.txt)"
  fi
}

check_endpoints() {
  capture 03_service.txt kube get service "${SERVICE}" -o wide || true
  capture 04_endpointslices.txt kube get endpointslices -l "kubernetes.io/service-name=${SERVICE}" -o wide || true
  local pods
  if ! save_json 04_endpointslices get endpointslices -l "kubernetes.io/service-name=${SERVICE}" -o json; then
    record endpoints FAIL "kubectl get endpointslices failed (04_endpointslices.err)"
    return
  fi
  # Pods, not addresses: a dual-stack Service lists every Pod once per IP family, in one slice each.
  pods="$(jq '[.items[].endpoints[]? | select(.conditions.ready != false)
      | .targetRef | select(.kind == "Pod") | "\(.namespace)/\(.name)"] | unique | length' \
    "${OUT}/04_endpointslices.json")"
  if [[ "${pods}" == "${REPLICAS}" ]]; then
    record endpoints PASS "service/${SERVICE} has ready endpoints on ${pods} Pods"
  else
    record endpoints FAIL "service/${SERVICE} has ready endpoints on ${pods:-0} Pods, expected ${REPLICAS} (04_endpointslices.txt)"
  fi
}

capture_ingress() {
  capture 05_ingress.txt kube get ingress "${INGRESS}" -o wide || true
}

# Starts kubectl port-forward and waits until it says where it listens (FORWARD_URL). Nothing is sent to
# a port before that: another process may hold it, and its answers are not evidence.
start_port_forward() {
  local local_port=""
  ((PORT_FORWARD_PORT == 0)) || local_port="${PORT_FORWARD_PORT}"
  kubectl --namespace "${NAMESPACE}" port-forward "svc/${SERVICE}" "${local_port}:${SERVICE_PORT}" \
    >"${OUT}/10_port_forward.log" 2>&1 &
  PORT_FORWARD_PID=$!
  wait_until "${PORT_FORWARD_WAIT}" "kubectl port-forward to listen" port_forward_listens
}

# 0 once kubectl has printed its first "Forwarding from ADDRESS:PORT -> ..." line (FORWARD_URL is then
# that address), 1 while it may still, 2 when its process has exited without one.
port_forward_listens() {
  local line
  line="$(grep -m 1 -E '^Forwarding from (127\.0\.0\.1|\[::1\]):[0-9]+ -> ' "${OUT}/10_port_forward.log")" || true
  if [[ -n "${line}" ]]; then
    line="${line#Forwarding from }"
    FORWARD_URL="http://${line%% -> *}"
    return 0
  fi
  kill -0 "${PORT_FORWARD_PID}" 2>/dev/null || return 2
  return 1
}

# Why the port-forward did not come up: kubectl's last line (its error), or that it said nothing in time.
port_forward_failure() {
  local said
  said="$(grep -v '^[[:space:]]*$' "${OUT}/10_port_forward.log" | tail -n 1)" || true
  if kill -0 "${PORT_FORWARD_PID}" 2>/dev/null; then
    printf 'kubectl said nothing about listening within %ss%s' "${PORT_FORWARD_WAIT}" "${said:+ (last: ${said})}"
  else
    printf 'kubectl exited: %s' "${said:-without a message}"
  fi
}

# answers URL: any HTTP answer counts (a 404 from a misrouted Ingress is evidence too); a refused or
# timed-out connection does not. Prints curl's error when there is none.
answers() {
  curl -sS -o /dev/null --connect-timeout 5 --max-time "${REQUEST_TIMEOUT}" "$1/status" 2>&1
}

stop_port_forward() {
  if [[ -n "${PORT_FORWARD_PID}" ]]; then
    kill "${PORT_FORWARD_PID}" 2>/dev/null || true
    wait "${PORT_FORWARD_PID}" 2>/dev/null || true
    PORT_FORWARD_PID=""
  fi
}

choose_base_url() {
  local how address why curl_error
  if [[ -n "${BASE_URL}" ]]; then
    how="given as BASE_URL"
  else
    address="$(kube get ingress "${INGRESS}" \
      -o jsonpath='{.status.loadBalancer.ingress[0].ip}{.status.loadBalancer.ingress[0].hostname}' 2>/dev/null || true)"
    [[ "${address}" != *:*:* ]] || address="[${address}]" # an IPv6 address, in a URL
    if [[ -z "${address}" ]]; then
      why="ingress/${INGRESS} has no address"
    elif curl_error="$(answers "http://${address}")"; then
      BASE_URL="http://${address}"
      how="the address of ingress/${INGRESS}"
    else
      # e.g. minikube's docker driver on macOS and Windows: the node IP is not reachable from the host.
      why="the address of ingress/${INGRESS} (http://${address}) does not answer: ${curl_error}"
    fi
    if [[ -n "${BASE_URL}" ]]; then
      :
    elif start_port_forward; then
      BASE_URL="${FORWARD_URL}"
      how="${why}: kubectl port-forward svc/${SERVICE} (pid ${PORT_FORWARD_PID}), listening on ${FORWARD_URL#http://}"
    else
      how="${why}, and kubectl port-forward svc/${SERVICE} did not come up: $(port_forward_failure) (10_port_forward.log)"
      NO_ADDRESS="${how}"
      stop_port_forward
    fi
  fi
  printf '%s\n%s\n' "${BASE_URL:-none}" "${how}" >"${OUT}/10_base_url.txt"
  log "base URL ${BASE_URL:-none} (${how})"
}

# fetch NAME PATH: saves headers (first line: the HTTP status) and body; prints the status code, or
# 000 when no HTTP answer came (the curl error is then in the headers file).
fetch() {
  local name="$1" path="$2" code
  code="$(curl -sS --max-time "${REQUEST_TIMEOUT}" -D "${OUT}/${name}.headers" -o "${OUT}/${name}.json" \
    -w '%{http_code}' "${BASE_URL}${path}" 2>"${OUT}/${name}.curl-error")" || true
  if [[ -s "${OUT}/${name}.curl-error" ]]; then
    cat "${OUT}/${name}.curl-error" >>"${OUT}/${name}.headers"
  fi
  rm -f "${OUT}/${name}.curl-error"
  touch "${OUT}/${name}.json"
  printf '%s' "${code:-000}"
}

# check_http CHECK NAME PATH JQ_FILTER DESCRIPTION
check_http() {
  local check="$1" name="$2" path="$3" filter="$4" description="$5" code
  code="$(fetch "${name}" "${path}")"
  if [[ "${code}" != 200 ]]; then
    record "${check}" FAIL "GET ${path} answered HTTP ${code} (${name}.headers)"
  elif jq -e "${filter}" "${OUT}/${name}.json" >/dev/null 2>&1; then
    record "${check}" PASS "GET ${path}: HTTP 200, ${description}"
  else
    record "${check}" FAIL "GET ${path}: HTTP 200 but the body is not ${description} (${name}.json)"
  fi
}

check_api() {
  local code check
  if [[ -n "${NO_ADDRESS}" ]]; then
    record status FAIL "GET /status not sent: ${NO_ADDRESS}"
    for check in users user_1; do
      record "${check}" FAIL "not sent: no address to send it to (see status)"
    done
    return
  fi
  code="$(fetch 06_curl_status /status)"
  if [[ "${code}" == 200 && "$(cat "${OUT}/06_curl_status.json")" == 1 ]]; then
    record status PASS "GET /status: HTTP 200, body 1"
  else
    record status FAIL "GET /status answered HTTP ${code} with body '$(head -c 80 "${OUT}/06_curl_status.json")' (06_curl_status.headers)"
  fi
  check_http users 07_curl_users /users \
    'type == "array" and length > 0 and all(.[]; type == "object" and has("user_id") and has("username") and has("email"))' \
    "a non-empty list of users"
  check_http user_1 08_curl_user_1 /users/1 '.user_id == 1' "user 1"
}

save_diagnostics() {
  log "saving describe output, container logs and events"
  {
    kube describe deployment "${DEPLOYMENT}" 2>&1 || true
    kube describe pods -l "${SELECTOR}" 2>&1 || true
    kube describe service "${SERVICE}" 2>&1 || true
    kube describe ingress "${INGRESS}" 2>&1 || true
  } >"${OUT}/90_describe.txt"
  local pod container
  for pod in $(kube get pods -l "${SELECTOR}" -o jsonpath='{.items[*].metadata.name}' 2>/dev/null || true); do
    for container in $(kube get pod "${pod}" -o jsonpath='{.spec.containers[*].name}' 2>/dev/null || true); do
      kube logs "${pod}" -c "${container}" --tail=500 >"${OUT}/91_logs_${pod}_${container}.txt" 2>&1 || true
      # The run before the last restart: why a crash-looping container ended.
      kube logs "${pod}" -c "${container}" --previous --tail=500 \
        >"${OUT}/92_previous_logs_${pod}_${container}.txt" 2>&1 || true
    done
  done
  kube get events --sort-by=.lastTimestamp >"${OUT}/93_events.txt" 2>&1 || true
}

write_summary() {
  local verdict="$1"
  {
    printf '# Evidence %s\n\n' "${OUT##*/}"
    printf '**%s**\n\n' "${verdict}"
    printf "Namespace \`%s\`, base URL \`%s\`. Files: see the list below; details in 00_meta.txt.\n\n" \
      "${NAMESPACE}" "${BASE_URL:-none}"
    printf '| check | result | detail |\n| --- | --- | --- |\n'
    printf '%s\n' "${ROWS[@]}"
    printf '\n## Files\n\n'
    (cd "${OUT}" && find . -type f ! -name SUMMARY.md | sort | sed 's|^\./|- |')
  } >"${OUT}/SUMMARY.md"
}

# Runs on every exit: stops the port-forward, saves diagnostics when anything failed, and always
# leaves a SUMMARY.md that says how the run ended.
finish() {
  local status=$?
  stop_port_forward
  [[ -n "${OUT}" ]] || exit "${status}"
  if ((status != 0 && FAILED == 0)); then
    FAILED=1
    ROWS+=("| script | FAIL | stopped unexpectedly with exit status ${status}; the checks after that point did not run |")
  fi
  ((FAILED == 0)) || save_diagnostics
  if ((FAILED == 0)); then
    write_summary "ALL ${#ROWS[@]} CHECKS PASSED"
  else
    write_summary "${FAILED} CHECK(S) FAILED"
  fi
  log "evidence in ${OUT} ($( ((FAILED == 0)) && echo 'all checks passed' || echo "${FAILED} failed"))"
  printf '%s\n' "${OUT}"
  ((FAILED == 0)) || exit 1
  exit 0
}

main() {
  if [[ "${1:-}" == -h || "${1:-}" == --help ]]; then
    usage
    exit 0
  fi
  if (($#)); then
    err "unknown argument: $1 (see --help)"
    exit 2
  fi
  require_tools kubectl curl jq
  if [[ ! "${PORT_FORWARD_PORT}" =~ ^[0-9]+$ ]] || ((PORT_FORWARD_PORT > 65535)); then
    err "PORT_FORWARD_PORT=${PORT_FORWARD_PORT} is not a port number (0: kubectl picks a free one)"
    exit 2
  fi
  [[ -n "${NAMESPACE}" ]] || NAMESPACE="$(context_namespace)"
  readonly NAMESPACE
  make_output_folder
  trap finish EXIT
  trap 'exit 130' INT TERM
  write_meta
  check_rollout
  check_pods
  check_endpoints
  capture_ingress
  choose_base_url
  check_api
}

main "$@"
