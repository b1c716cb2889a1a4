#!/usr/bin/env bash
# Starts mining with rewards to the account NAME.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
bkc_args 3 'NAME PASSWORD SUBNET' "$@"
rpc mining "[$(bkc_json_string "$1"),$(bkc_json_string "$2")]" "$3"
