# shellcheck shell=bash
# Shared code for the bkc JSON-RPC scripts; sourced by each of them, not run.
#
# A node is addressed by the last two octets of its IP ("subnet", e.g. 53.5);
# BKC_NET_PREFIX (default 192.168) supplies the first two and BKC_RPC_PORT
# (default 8888) the port, so BKC_NET_PREFIX=127.0 reaches a local node on
# 127.0.53.5. Every script prints the node's raw JSON response followed by a
# newline and exits 0 on a result, 1 when the request failed or the node
# answered with an error, 2 on bad arguments.

bkc_die_usage() {
  printf '%s\n' "$(basename "$0"): $1" >&2
  exit 2
}

# bkc_json_string VALUE: prints VALUE as a JSON string literal. Pure bash so
# that passwords never appear in another process's arguments.
bkc_json_string() {
  local s=$1 bs=\\ i hex ch
  s=${s//"$bs"/"$bs$bs"}
  s=${s//'"'/"$bs\""}
  if [[ $s == *[[:cntrl:]]* ]]; then
    s=${s//$'\n'/"${bs}n"}
    s=${s//$'\r'/"${bs}r"}
    s=${s//$'\t'/"${bs}t"}
    s=${s//$'\b'/"${bs}b"}
    s=${s//$'\f'/"${bs}f"}
    for ((i = 1; i < 32; i++)); do
      printf -v hex '%02x' "$i"
      printf -v ch '%b' "\\x$hex"
      s=${s//"$ch"/"${bs}u00$hex"}
    done
  fi
  printf '"%s"' "$s"
}

# bkc_check_subnet SUBNET: exits 2 unless SUBNET looks like N.N.
bkc_check_subnet() {
  if [[ ! $1 =~ ^([0-9]{1,3})\.([0-9]{1,3})$ ]] || ((10#${BASH_REMATCH[1]} > 255 || 10#${BASH_REMATCH[2]} > 255)); then
    bkc_die_usage "subnet must be the last two octets of the node's address, like 53.5 (got '$1')"
  fi
}

# bkc_args COUNT USAGE "$@": exits 2 with USAGE unless exactly COUNT
# arguments were given; the last one must be a subnet.
bkc_args() {
  local want=$1 usage=$2
  shift 2
  if (($# != want)); then
    bkc_die_usage "expected $want arguments, got $#
usage: $(basename "$0") $usage"
  fi
  bkc_check_subnet "${!#}"
}

# bkc_url SUBNET: the node's JSON-RPC endpoint.
bkc_url() {
  local prefix=${BKC_NET_PREFIX:-192.168} port=${BKC_RPC_PORT:-8888}
  [[ $prefix =~ ^[0-9]{1,3}\.[0-9]{1,3}$ ]] || bkc_die_usage "BKC_NET_PREFIX must look like 192.168 (got '$prefix')"
  [[ $port =~ ^[0-9]{1,5}$ ]] || bkc_die_usage "BKC_RPC_PORT must be a port number (got '$port')"
  printf 'http://%s.%s:%s' "$prefix" "$1" "$port"
}

# bkc_response_kind JSON: prints "result" or "error", whichever top-level
# member of the response object comes first (JSON-RPC 2.0 allows exactly
# one), or nothing when there is neither. Walks the text, skipping strings
# and nested values, and stops at the first deciding member, so a large
# result is never scanned.
bkc_response_kind() {
  local LC_ALL=C
  local s=$1 n=${#1} i=0 depth=0 key_next=0 start c
  while ((i < n)); do
    c=${s:i:1}
    case $c in
      '"')
        start=$((i + 1))
        i=$start
        while ((i < n)); do
          c=${s:i:1}
          if [[ $c == "\\" ]]; then
            i=$((i + 2))
          elif [[ $c == '"' ]]; then
            break
          else
            i=$((i + 1))
          fi
        done
        if ((depth == 1 && key_next)); then
          case ${s:start:i-start} in
            result | error)
              printf '%s' "${s:start:i-start}"
              return 0
              ;;
          esac
        fi
        key_next=0
        ;;
      '{')
        depth=$((depth + 1))
        key_next=$((depth == 1))
        ;;
      '[')
        ((depth > 0)) || return 0 # a batch or bare array: not a response object
        depth=$((depth + 1))
        ;;
      '}' | ']')
        depth=$((depth - 1))
        ((depth > 0)) || return 0
        ;;
      ',')
        key_next=$((depth == 1))
        ;;
      ' ' | $'\t' | $'\n' | $'\r') ;;
      *)
        ((depth > 0)) || return 0 # not a JSON object at all
        key_next=0
        ;;
    esac
    i=$((i + 1))
  done
}

# rpc METHOD PARAMS_JSON SUBNET: posts a JSON-RPC 2.0 request and prints the
# raw response and a newline. Returns 0 when the node answered with a result,
# 1 when curl failed, the HTTP status was not 2xx or the response holds an
# error (printed anyway so the user sees the message). The body goes to curl
# on stdin so that passwords do not show in ps.
rpc() {
  local method=$1 params=$2 subnet=$3 url body out status response curl_rc=0
  bkc_check_subnet "$subnet"
  url=$(bkc_url "$subnet")
  body="{\"jsonrpc\":\"2.0\",\"method\":$(bkc_json_string "$method"),\"params\":$params,\"id\":1}"
  out=$(printf '%s' "$body" |
    curl -sS --noproxy '*' --max-time 30 -X POST -H 'Content-Type: application/json' \
      --data-binary @- --write-out '\n%{http_code}' -- "$url") || curl_rc=$?
  status=${out##*$'\n'}
  response=${out%$'\n'*}
  [[ $out == *$'\n'* ]] || response=''
  while [[ $response == *[$'\r\n'] ]]; do response=${response%?}; done
  [[ -z $response ]] || printf '%s\n' "$response"
  ((curl_rc == 0)) || return 1
  [[ $status == 2[0-9][0-9] ]] || return 1
  [[ $(bkc_response_kind "$response") == result ]]
}
