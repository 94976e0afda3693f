#!/usr/bin/python3
"""The receiving end of runc's --console-socket, as conmon and containerd's shim are.

Usage: console_socket.py SOCKET [--send TEXT] [--timeout S]

Listens on the unix stream socket SOCKET, prints "listening" on stdout once
it does, accepts one connection and takes the descriptor passed in it with
SCM_RIGHTS (the pty master). With --send, writes TEXT (Python escapes) to the
master once received. Then reads the master until the terminal's other end
is closed by every process (EIO) or --timeout, and prints one JSON line:
  name: the data bytes that came with the descriptor (runc sends the name)
  isatty: whether the descriptor is a terminal
  output: everything read from the master, base64
  timed_out: whether --timeout ended the reading
"""
import array
import base64
import json
import os
import select
import socket
import sys
import time


def main(argv):
    path = argv[0]
    send = None
    timeout = 15.0
    i = 1
    while i < len(argv):
        if argv[i] == "--send":
            send = argv[i + 1].encode().decode("unicode_escape").encode("latin-1")
        elif argv[i] == "--timeout":
            timeout = float(argv[i + 1])
        else:
            raise SystemExit(f"unknown option {argv[i]}")
        i += 2

    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(path)
    srv.listen(1)
    print("listening", flush=True)
    deadline = time.monotonic() + timeout
    srv.settimeout(timeout)
    conn, _ = srv.accept()
    fds = array.array("i")
    msg, anc, _, _ = conn.recvmsg(4096, socket.CMSG_SPACE(4 * fds.itemsize))
    for level, kind, data in anc:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds.frombytes(data[: len(data) - (len(data) % fds.itemsize)])
    conn.close()
    if not fds:
        json.dump({"error": "no descriptor received", "name": msg.decode(errors="replace")}, sys.stdout)
        return
    master = fds[0]
    if send is not None:
        os.write(master, send)
    output = b""
    timed_out = False
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            timed_out = True
            break
        ready, _, _ = select.select([master], [], [], left)
        if not ready:
            continue
        try:
            chunk = os.read(master, 65536)
        except OSError:
            break  # EIO: no process has the terminal open any more
        if not chunk:
            break
        output += chunk
    json.dump(
        {
            "name": msg.decode(errors="replace"),
            "isatty": os.isatty(master),
            "output": base64.b64encode(output).decode(),
            "timed_out": timed_out,
        },
        sys.stdout,
    )


if __name__ == "__main__":
    main(sys.argv[1:])
