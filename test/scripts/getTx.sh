#!/usr/bin/env bash
# Prints a transaction by hash (null when unknown).
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
bkc_args 2 'TXHASH SUBNET' "$@"
rpc getTransaction "[$(bkc_json_string "$1")]" "$2"
