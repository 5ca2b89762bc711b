#!/usr/bin/env python3
"""ownclock.py OUT -- ARGV...: run ARGV and write one JSON object to OUT:

  start, end        unix seconds (time.time()) around the child's life
  wall_ms           milliseconds from the fork to the child's exit
  self_cpu_ms       user + system CPU of the child process ITSELF, every
                    thread (utime + stime of /proc/PID/stat)
  children_cpu_ms   the CPU of the descendants it waited for (cutime + cstime)
  code              exit status (128 + N when killed by signal N)

The child's own CPU is read while it is a zombie: waitid(WNOWAIT) reports
the exit without reaping, so /proc/PID/stat is still there; then it is
reaped. (wait4's rusage cannot separate the two: it adds the descendants.)
Resolution: one clock tick (1/SC_CLK_TCK s, 10 ms here). Used by
tests/bench/deploy_clock.lua for slipway and for deploy.py alike.
"""
import json
import os
import sys
import time


def main():
    if len(sys.argv) < 4 or sys.argv[2] != "--":
        sys.stderr.write("usage: ownclock.py OUT -- ARGV...\n")
        return 2
    out, argv = sys.argv[1], sys.argv[3:]
    tick = os.sysconf("SC_CLK_TCK")
    start = time.time()
    t0 = time.monotonic()
    pid = os.fork()
    if pid == 0:
        try:
            os.execvp(argv[0], argv)
        finally:
            os._exit(127)
    os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT)
    t1 = time.monotonic()
    end = time.time()
    with open(f"/proc/{pid}/stat") as f:
        stat = f.read()
    # fields after "(comm)": state is field 3, utime 14, stime 15, cutime 16, cstime 17
    fields = stat[stat.rindex(")") + 2:].split()
    utime, stime, cutime, cstime = (int(x) for x in fields[11:15])
    _, status = os.waitpid(pid, 0)
    code = os.waitstatus_to_exitcode(status)
    if code < 0:
        code = 128 - code
    rec = {
        "start": start,
        "end": end,
        "wall_ms": (t1 - t0) * 1000,
        "self_cpu_ms": (utime + stime) * 1000 / tick,
        "children_cpu_ms": (cutime + cstime) * 1000 / tick,
        "code": code,
    }
    tmp = out + ".tmp"
    with open(tmp, "w") as f:
        json.dump(rec, f)
    os.rename(tmp, out)
    return code


if __name__ == "__main__":
    sys.exit(main())
