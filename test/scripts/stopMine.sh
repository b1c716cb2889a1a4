#!/usr/bin/env bash
# Stops mining.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
bkc_args 1 'SUBNET' "$@"
rpc stopMining '[]' "$1"
