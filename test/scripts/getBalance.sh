#!/usr/bin/env bash
# Prints the balance of an address (compressed public key hex).
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
bkc_args 2 'PUBKEY SUBNET' "$@"
rpc getBalance "[$(bkc_json_string "$1")]" "$2"
