#!/usr/bin/python3
"""Runs a command on a new pseudo-terminal, as a terminal emulator would.

Usage: pty_run.py [--rows N --cols N] [--expect TEXT (--send DATA | --resize ROWSxCOLS)]...
                  [--timeout S] -- COMMAND [ARG...]

The command gets the pty's slave as stdin, stdout, stderr and controlling
terminal (in its own session). Each --expect step, in order: once the
output contains TEXT (after the previous match), DATA (Python escapes, e.g.
"\\x03") is written to the master, or the terminal is resized (the kernel
then sends SIGWINCH to the command, as a terminal emulator's resize does).
Prints one JSON object on stdout:
  status: the exit code, or -N if signal N killed the command
  output: everything the command wrote, base64
  restored: whether the pty's termios settings are what they were before
  timed_out: whether the command had to be killed after --timeout
  input: what is left unread in the terminal's input queue at the end, base64
         (what a shell reading the terminal after the command would get)
"""
import base64
import fcntl
import json
import os
import select
import signal
import struct
import sys
import termios
import time


def main(argv):
    rows = cols = None
    steps = []
    timeout = 20.0
    i = 0
    while i < len(argv) and argv[i] != "--":
        opt, val = argv[i], argv[i + 1]
        if opt == "--rows":
            rows = int(val)
        elif opt == "--cols":
            cols = int(val)
        elif opt == "--expect":
            steps.append([val.encode(), None])
        elif opt == "--send":
            steps[-1][1] = ("send", val.encode().decode("unicode_escape").encode("latin-1"))
        elif opt == "--resize":
            r, c = val.split("x")
            steps[-1][1] = ("resize", (int(r), int(c)))
        elif opt == "--timeout":
            timeout = float(val)
        else:
            raise SystemExit(f"unknown option {opt}")
        i += 2
    cmd = argv[i + 1:]

    master, slave = os.openpty()
    def resize(r, c):
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", r, c, 0, 0))

    if rows is not None:
        resize(rows, cols)
    before = termios.tcgetattr(slave)

    pid = os.fork()
    if pid == 0:
        try:
            os.setsid()
            fcntl.ioctl(slave, termios.TIOCSCTTY, 0)
            for fd in (0, 1, 2):
                os.dup2(slave, fd)
            os.close(master)
            os.close(slave)
            os.execvp(cmd[0], cmd)
        finally:
            os._exit(127)

    output = b""
    matched = 0  # output before this offset was already matched
    status = None
    timed_out = False
    deadline = time.monotonic() + timeout
    while True:
        if steps and steps[0][0] in output[matched:]:
            expect, action = steps.pop(0)
            matched = output.index(expect, matched) + len(expect)
            if action and action[0] == "send":
                os.write(master, action[1])
            elif action:
                resize(*action[1])
            continue
        if status is None:
            done, st = os.waitpid(pid, os.WNOHANG)
            if done:
                status = os.waitstatus_to_exitcode(st)
        ready, _, _ = select.select([master], [], [], 0 if status is not None else 0.05)
        if ready:
            try:
                chunk = os.read(master, 65536)
            except OSError:
                chunk = b""
            output += chunk
            if chunk:
                continue
        if status is not None:
            break  # exited and nothing left to read
        if time.monotonic() > deadline:
            timed_out = True
            os.kill(pid, signal.SIGKILL)
            status = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
            break

    after = termios.tcgetattr(slave)
    # Non-canonical and non-blocking, so a partial line shows too.
    raw = termios.tcgetattr(slave)
    raw[3] &= ~termios.ICANON
    raw[6][termios.VMIN] = 0
    raw[6][termios.VTIME] = 0
    termios.tcsetattr(slave, termios.TCSANOW, raw)
    os.set_blocking(slave, False)
    pending = b""
    while True:
        try:
            chunk = os.read(slave, 65536)
        except (BlockingIOError, OSError):
            break
        if not chunk:
            break
        pending += chunk
    json.dump(
        {
            "status": status,
            "output": base64.b64encode(output).decode(),
            "restored": before == after,
            "timed_out": timed_out,
            "input": base64.b64encode(pending).decode(),
            "pending_expect": [s[0].decode(errors="replace") for s in steps],
        },
        sys.stdout,
    )


if __name__ == "__main__":
    main(sys.argv[1:])
