/*
 * policy.c -- process-wide settings, made once at start-up.
 *
 * main() calls sw_policy_init before anything else runs: before the Lua
 * state, the loop and libuv's thread pool exist. Nothing changes them later:
 * children are spawned on pool threads and inherit whatever the process has
 * at that instant, so a binding that flipped, say, the umask around a call
 * could hand a child umask 0 (issue 14). A binding that needs one of these
 * values reads it here (sw_umask).
 *
 *   umask            read once and kept as the user set it; new files get
 *                    0666 & ~sw_umask() (downloads, slipway.fs writes)
 *   RLIMIT_NOFILE    soft limit raised to the hard one (at most 65536), as
 *                    Go's runtime does: a thousand concurrent requests or
 *                    runs need a thousand descriptors (children inherit it)
 *   malloc           glibc thresholds for large bodies (see below)
 *   subreaper        PR_SET_CHILD_SUBREAPER: orphaned grandchildren are
 *                    re-parented to slipway and reaped by slipway.proc
 *                    instead of going to a PID 1 that may never reap them
 *   SIGPIPE          ignored: writing to a child that died is an EPIPE error,
 *                    not the end of slipway
 */
#include "slipway.h"

#include <malloc.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>

static mode_t process_umask = 022;

mode_t sw_umask(void) { return process_umask; }

void sw_policy_init(void) {
  /* reading the umask sets it: done here, once, with no other thread */
  process_umask = umask(022);
  umask(process_umask);

  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max > 65536 ? 65536 : rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
#ifdef __GLIBC__
  /* Response bodies become Lua strings of their size. With glibc's default
   * (dynamic) thresholds every body of a megabyte or so is a fresh mmap or
   * lands on a heap top that is trimmed soon after: page faults dominated a
   * run of 2,000 1 MiB GETs (60,000-220,000 minor faults, 4,000 with these
   * settings, and a third less CPU). Bodies up to 4 MiB now come from the
   * heap, which keeps up to 16 MiB of free memory instead of returning it. */
  mallopt(M_MMAP_THRESHOLD, 4 * 1024 * 1024);
  mallopt(M_TRIM_THRESHOLD, 16 * 1024 * 1024);
#endif
  prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
  signal(SIGPIPE, SIG_IGN);
}
