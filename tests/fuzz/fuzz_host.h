/*
 * fuzz_host.h -- what the libFuzzer harnesses (tests/fuzz/) share: a Lua
 * state booted once per process exactly as the slipway command boots it
 * (sw_state_open, the scheduler), and a way to run a Lua function as the
 * main task. See docs/fuzzing.md.
 */
#ifndef FUZZ_HOST_H
#define FUZZ_HOST_H

#include "slipway.h"

/* The state (booted on the first call): libraries, preloads, searchers,
 * tests/fuzz/ on the user module path, the scheduler running. */
lua_State *fuzz_state(void);

/* Run the function below nargs arguments on L's stack as the main task
 * (so it may wait: servers, task.sleep); abort() -- a finding -- when it
 * raised, after printing its traceback. Pops the function and arguments. */
void fuzz_run_task(lua_State *L, int nargs);

/* Print "invariant violated: ..." and abort(). */
void fuzz_fail(const char *fmt, ...);

/* The directory of the harnesses' Lua files and corpora. */
const char *fuzz_dir(void);

#endif
