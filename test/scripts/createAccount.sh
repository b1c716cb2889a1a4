#!/usr/bin/env bash
# Creates an account in the node's keystore; prints {"result": address}.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
bkc_args 3 'NAME PASSWORD SUBNET' "$@"
rpc createAccount "[$(bkc_json_string "$1"),$(bkc_json_string "$2")]" "$3"
