#!/usr/bin/env python3
"""ICMP echo client on a raw socket (needs root), for machines without `ping`.

    python3 icmp_ping.py DEST [-c COUNT=5] [-i INTERVAL=0.2] [-W TIMEOUT=2] [-s SIZE=56]

Prints one line per reply, then one JSON line:
    {"sent": N, "received": M, "rtt_ms": [...], "median_ms": x, "avg_ms": y}
Exit status 0 when at least one reply arrived, 1 otherwise. The whole run is
bounded by COUNT * INTERVAL + TIMEOUT seconds.
"""
import argparse
import json
import os
import select
import socket
import statistics
import struct
import sys
import time

ICMP_ECHO_REQUEST = 8
ICMP_ECHO_REPLY = 0


def checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    total = (total >> 16) + (total & 0xFFFF)
    total += total >> 16
    return ~total & 0xFFFF


def echo_request(ident: int, seq: int, size: int) -> bytes:
    # A recognisable payload makes captures easy to read; its content is never checked.
    payload = bytes((i & 0xFF for i in range(size)))
    header = struct.pack("!BBHHH", ICMP_ECHO_REQUEST, 0, 0, ident, seq)
    csum = checksum(header + payload)
    return struct.pack("!BBHHH", ICMP_ECHO_REQUEST, 0, csum, ident, seq) + payload


def parse_reply(packet: bytes):
    """(source, ttl, ident, seq, icmp_len) for an echo reply, else None."""
    if len(packet) < 20:
        return None
    ihl = (packet[0] & 0x0F) * 4
    if len(packet) < ihl + 8:
        return None
    ttl = packet[8]
    source = socket.inet_ntoa(packet[12:16])
    icmp_type, _code, _csum, ident, seq = struct.unpack("!BBHHH", packet[ihl:ihl + 8])
    if icmp_type != ICMP_ECHO_REPLY:
        return None
    return source, ttl, ident, seq, len(packet) - ihl


def positive(kind):
    def parse(text):
        value = kind(text)
        if value <= 0:
            raise argparse.ArgumentTypeError("must be > 0")
        return value
    return parse


def main() -> int:
    ap = argparse.ArgumentParser(description="ICMP echo over a raw socket")
    ap.add_argument("dest")
    ap.add_argument("-c", dest="count", type=positive(int), default=5)
    ap.add_argument("-i", dest="interval", type=positive(float), default=0.2)
    ap.add_argument("-W", dest="timeout", type=positive(float), default=2.0)
    ap.add_argument("-s", dest="size", type=int, default=56)
    args = ap.parse_args()
    if args.count > 100000:
        ap.error("-c must be at most 100000")
    if not 0 <= args.size <= 65000:
        ap.error("-s must be in 0..65000")

    try:
        dest = socket.gethostbyname(args.dest)
    except OSError as e:
        print(f"icmp_ping: cannot resolve {args.dest}: {e}", file=sys.stderr)
        return 1
    try:
        sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    except PermissionError:
        print("icmp_ping: raw sockets need root (or CAP_NET_RAW)", file=sys.stderr)
        return 1
    sock.setblocking(False)

    ident = os.getpid() & 0xFFFF
    sent_at = {}  # seq -> monotonic send time, for requests still awaiting a reply
    rtts = []
    sent = 0
    start = time.monotonic()
    hard_deadline = start + args.count * args.interval + args.timeout

    def receive_until(deadline: float) -> None:
        while True:
            now = time.monotonic()
            # Requests older than -W no longer count, so a late reply is not mistaken for a fresh one.
            for seq in [s for s, t in sent_at.items() if now - t > args.timeout]:
                del sent_at[seq]
            wait = min(deadline, hard_deadline) - now
            if wait <= 0 or (sent == args.count and not sent_at):
                return
            ready, _, _ = select.select([sock], [], [], wait)
            if not ready:
                continue
            try:
                packet, _addr = sock.recvfrom(65535)
            except BlockingIOError:
                continue
            arrived = time.monotonic()
            reply = parse_reply(packet)
            if reply is None:
                continue
            source, ttl, rid, seq, length = reply
            if rid != ident or source != dest or seq not in sent_at:
                continue
            rtt = (arrived - sent_at.pop(seq)) * 1000.0
            rtts.append(rtt)
            print(f"{length} bytes from {source}: icmp_seq={seq} ttl={ttl} time={rtt:.3f} ms", flush=True)

    for i in range(args.count):
        seq = (i + 1) & 0xFFFF
        try:
            sock.sendto(echo_request(ident, seq, args.size), (dest, 0))
            sent_at[seq] = time.monotonic()
        except OSError as e:
            print(f"icmp_ping: send icmp_seq={seq}: {e}", file=sys.stderr)
        sent += 1
        if i + 1 < args.count:
            receive_until(start + (i + 1) * args.interval)
    receive_until(hard_deadline)
    sock.close()

    summary = {
        "sent": sent,
        "received": len(rtts),
        "rtt_ms": [round(r, 3) for r in rtts],
        "median_ms": round(statistics.median(rtts), 3) if rtts else None,
        "avg_ms": round(statistics.fmean(rtts), 3) if rtts else None,
    }
    print(json.dumps(summary), flush=True)
    return 0 if rtts else 1


if __name__ == "__main__":
    sys.exit(main())
