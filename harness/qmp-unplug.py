#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
#
# qmp-unplug.py SOCKET WATCHFILE
#
# The host half of the hot-unplug tests: follow WATCHFILE (the guest's test
# output) and, for each line "@@@ UNPLUG <id>", ask QEMU over its QMP socket
# to device_del <id>. Exits when QEMU closes the socket.
import json
import re
import select
import socket
import sys
import time

MARK = re.compile(rb"@@@ UNPLUG (\S+)")


def connect(path, wait=120):
    deadline = time.time() + wait
    while True:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.connect(path)
            return s
        except OSError:
            s.close()
            if time.time() > deadline:
                raise
            time.sleep(0.2)


def send(sock, cmd, **args):
    msg = {"execute": cmd}
    if args:
        msg["arguments"] = args
    sock.sendall(json.dumps(msg).encode() + b"\n")


def main():
    sock_path, watch = sys.argv[1], sys.argv[2]
    sock = connect(sock_path)
    send(sock, "qmp_capabilities")
    pos = 0
    while True:
        r, _, _ = select.select([sock], [], [], 0.2)
        if r:
            data = sock.recv(65536)
            if not data:
                return 0
            for line in data.splitlines():
                if b'"error"' in line:
                    print("qmp-unplug: " + line.decode(errors="replace"),
                          file=sys.stderr)
        try:
            with open(watch, "rb") as f:
                f.seek(pos)
                chunk = f.read()
        except FileNotFoundError:
            continue
        # Whole lines only: a marker may arrive in two writes.
        end = chunk.rfind(b"\n") + 1
        pos += end
        for m in MARK.finditer(chunk[:end]):
            dev = m.group(1).decode()
            print(f"qmp-unplug: device_del {dev}", file=sys.stderr)
            send(sock, "device_del", id=dev)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (OSError, KeyboardInterrupt):
        sys.exit(0)
