#!/usr/bin/env bash
# Unlocks NAME and sends AMOUNT to RECEIVER; prints the sendTransaction
# response (or the unlock response when unlocking fails).
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
bkc_args 5 'NAME PASSWORD RECEIVER AMOUNT SUBNET' "$@"
name=$1 password=$2 receiver=$3 amount=$4 subnet=$5
if ! unlocked=$(rpc unlock "[$(bkc_json_string "$name"),$(bkc_json_string "$password")]" "$subnet"); then
  [[ -z $unlocked ]] || printf '%s\n' "$unlocked"
  exit 1
fi
# The amount goes as a JSON string: the node accepts numeric strings, and
# this keeps integers beyond 2^53 exact.
rpc sendTransaction "[$(bkc_json_string "$receiver"),$(bkc_json_string "$amount")]" "$subnet"
