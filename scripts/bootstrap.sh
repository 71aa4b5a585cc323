#!/usr/bin/env bash
# Installs what `make run` (bootstrap.sh run), `make test` (bootstrap.sh test) or `make exam`
# (bootstrap.sh exam) needs on a fresh Debian/Ubuntu machine, and nothing twice: the system packages
# (only when a command from them is missing) and pinned virtualenvs in .venv. Without root, it names
# what to install instead of failing halfway.
set -euo pipefail
# The bash version check first, then log and err, as the other scripts print them.
# shellcheck source-path=SCRIPTDIR
# shellcheck source=lib/common.sh
source "${BASH_SOURCE[0]%/*}/lib/common.sh"

readonly VENV="${VENV:-.venv}"
readonly PYTHON="${PYTHON:-python3}"
readonly REQUIREMENTS=(api/requirements.txt requirements-exam.txt requirements-dev.txt)
# checkov pins older versions of libraries pytest needs, so it gets a virtualenv of its own.
readonly CHECKOV_VENV="${VENV}/checkov"
readonly CHECKOV_REQUIREMENTS=requirements-checkov.txt
# scripts/check-exam alone (make exam, on a learner's cluster machine): two packages, no compiler.
readonly EXAM_VENV="${VENV}/exam"
readonly EXAM_REQUIREMENTS=requirements-exam.txt

# command (or pc:<pkg-config module>, py:<Python module>, or file:<path>) the project needs -> the Debian package with it.
# shellcheck disable=SC2034  # both maps are read through a nameref in missing_packages
declare -rA RUN_NEEDS=(
  [py:ensurepip]=python3-venv
  [mariadbd]=mariadb-server
  [mariadb]=mariadb-client
  [mariadb-install-db]=mariadb-server
  [cc]=build-essential
  [pkg-config]=pkg-config
  [pc:mysqlclient]=default-libmysqlclient-dev
)
# shellcheck disable=SC2034
declare -rA EXAM_NEEDS=(
  [py:ensurepip]=python3-venv
)
# shellcheck disable=SC2034
declare -rA TEST_NEEDS=(
  # the container stage: a real engine, pods, the stand-in base, and compose
  [podman]=podman
  [buildah]=buildah
  [catatonit]=catatonit
  [runc]=runc
  [debootstrap]=debootstrap
  [docker-compose]=docker-compose
  # container name resolution on compose networks (podman's CNI backend); podman only recommends it
  [file:/usr/lib/cni/dnsname]=golang-github-containernetworking-plugin-dnsname
  # the TLS tests' certificates
  [openssl]=openssl
  # scripts/capture-proof.sh and its tests
  [curl]=curl
  [jq]=jq
  [pgrep]=procps
  # load tests and scripts/bench.py
  [wrk]=wrk
)

has() {
  local need="$1"
  if [[ "${need}" == pc:* ]]; then
    command -v pkg-config >/dev/null && pkg-config --exists "${need#pc:}"
  elif [[ "${need}" == py:* ]]; then
    "${PYTHON}" -c "import ${need#py:}" 2>/dev/null
  elif [[ "${need}" == file:* ]]; then
    [[ -e "${need#file:}" ]]
  else
    command -v "${need}" >/dev/null || [[ -x "/usr/sbin/${need}" ]]
  fi
}

# missing_packages MAP_NAME...: the packages of the named maps whose command is missing
missing_packages() {
  local map need
  for map in "$@"; do
    local -n needs="${map}"
    for need in "${!needs[@]}"; do
      has "${need}" || printf '%s\n' "${needs[${need}]}"
    done
  done | sort -u
}

install_system_packages() {
  local -a packages
  mapfile -t packages < <(missing_packages "$@")
  ((${#packages[@]} == 0)) && return 0
  if [[ ${EUID} -ne 0 ]] || ! command -v apt-get >/dev/null; then
    err "missing system packages: ${packages[*]}"
    err "install them (Debian/Ubuntu: sudo apt-get install -y ${packages[*]}) and run this again"
    exit 1
  fi
  log "installing ${packages[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
}

# The service needs Python 3.11 or newer (it relies on asyncio's TimeoutError being the builtin one);
# check-exam alone (make exam) runs on 3.10 too, which Ubuntu 22.04 ships.
MINIMUM_PYTHON=3.11 NEEDED_BY="the User API"
require_python() {
  command -v "${PYTHON}" >/dev/null || { err "${PYTHON} not found: install Python ${MINIMUM_PYTHON} (or newer) with venv"; exit 1; }
  local version
  version="$("${PYTHON}" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
  if ! "${PYTHON}" -c "import sys; sys.exit(sys.version_info < (${MINIMUM_PYTHON/./, }))"; then
    err "${PYTHON} is Python ${version}; ${NEEDED_BY} needs Python ${MINIMUM_PYTHON} or newer (set PYTHON=python${MINIMUM_PYTHON})"
    exit 1
  fi
}

# install_virtualenv DIR REQUIREMENTS_FILE...: a venv at DIR with the pinned requirements, rebuilt only
# when the requirement files change.
install_virtualenv() {
  local dir="$1" stamp="$1/.requirements.sha256" wanted
  shift
  wanted="$(cat "$@" | sha256sum)"
  if [[ -f "${stamp}" && "$(cat "${stamp}")" == "${wanted}" ]]; then
    return 0
  fi
  require_python
  log "creating ${dir} with the pinned requirements ($*)"
  "${PYTHON}" -m venv "${dir}"
  "${dir}/bin/pip" install --quiet --disable-pip-version-check -r "${@: -1}"
  printf '%s' "${wanted}" >"${stamp}"
}

# The container tests' images take minutes to build on a new machine (debootstrap, then apt inside the
# builds): with TEST_IMAGES_HEAD_START=1 (`make test` sets it), start building them now, beside the
# virtualenvs. The tests build what is still missing or out of date themselves, under the same lock, so
# this is only a head start; a warm machine has nothing to build. Ctrl-C stops it with the rest.
start_test_images() {
  [[ "${TEST_IMAGES_HEAD_START:-0}" == 1 ]] || return 0
  local log="${TMPDIR:-/tmp}/user-api-test-images.log"
  log "building the test images in the background (log: ${log})"
  PYTHONPATH=scripts:tests "${PYTHON}" -m support.podman >"${log}" 2>&1 &
}

main() {
  local mode="${1:-test}"
  cd "$(dirname "${BASH_SOURCE[0]}")/.."
  case "${mode}" in
    run)
      install_system_packages RUN_NEEDS
      install_virtualenv "${VENV}" "${REQUIREMENTS[@]}"
      ;;
    exam)
      MINIMUM_PYTHON=3.10 NEEDED_BY=scripts/check-exam
      install_system_packages EXAM_NEEDS
      install_virtualenv "${EXAM_VENV}" "${EXAM_REQUIREMENTS}"
      ;;
    test)
      install_system_packages RUN_NEEDS TEST_NEEDS
      start_test_images
      # The two virtualenvs are independent, and mostly wait on downloads: build them side by side
      # (the outer folder first, so that they do not race to create it).
      local checkov
      mkdir -p "${VENV}"
      install_virtualenv "${CHECKOV_VENV}" "${CHECKOV_REQUIREMENTS}" &
      checkov=$!
      install_virtualenv "${VENV}" "${REQUIREMENTS[@]}"
      wait "${checkov}"
      ;;
    *)
      err "usage: scripts/bootstrap.sh [run|test|exam]"
      exit 2
      ;;
  esac
}

main "$@"
