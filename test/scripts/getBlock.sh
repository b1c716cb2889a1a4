#!/usr/bin/env bash
# Prints the block at a height (null when there is none).
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
bkc_args 2 'NUMBER SUBNET' "$@"
number=$1
if [[ $number =~ ^[0-9]+$ ]]; then
  # A JSON number may not have leading zeros.
  while [[ $number == 0?* ]]; do number=${number#0}; done
else
  number=$(bkc_json_string "$number") # let the node explain what is wrong with it
fi
rpc getBlock "[$number]" "$2"
