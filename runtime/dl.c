/*
 * dl.c -- shared libraries loaded on first use (sw_dl_load, slipway.h).
 *
 * slipway links only what every start needs (docs/runtime.md, "Start-up").
 * libcurl (http.c) and GNU Nettle (digest.c) are opened with dlopen the first
 * time a playbook uses them, and the functions they need are resolved into
 * their binding's table of function pointers at that moment. The headers of
 * the -dev packages give the types; nothing of the libraries is linked.
 */
#include "slipway.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void *sw_dl_load(const char *env, const char *soname, const char *what,
                 const char *package, const sw_dl_sym *syms, char *err, size_t errlen) {
  const char *lib = env ? getenv(env) : NULL;
  if (lib == NULL || *lib == '\0') lib = soname;
  void *dl = dlopen(lib, RTLD_NOW | RTLD_LOCAL);
  if (dl == NULL) {
    const char *e = dlerror();
    snprintf(err, errlen, "cannot load %s (%s); install Debian's %s package", what,
             e ? e : lib, package);
    return NULL;
  }
  for (const sw_dl_sym *s = syms; s->name; s++) {
    void *p = dlsym(dl, s->name);
    if (p == NULL) {
      snprintf(err, errlen, "%s has no symbol %s", what, s->name);
      dlclose(dl);
      return NULL;
    }
    /* POSIX: a function's address fits a void * (dlsym's contract) */
    memcpy(s->fn, &p, sizeof p);
  }
  return dl;
}
