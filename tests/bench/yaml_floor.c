/*
 * yaml_floor.c -- the floor for tests/bench/yaml.sh: libyaml's parser event
 * loop and nothing else (no values built). Prints the event count, or the
 * parse error and exits 1; so it also tells what libyaml itself accepts.
 *
 *   cc -O2 -o yaml_floor yaml_floor.c $(pkg-config --cflags --libs yaml-0.1)
 *   ./yaml_floor FILE [REPEAT]   -> "ok EVENTS events SECONDS s" (best of REPEAT)
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <yaml.h>

int main(int argc, char **argv) {
  FILE *f;
  unsigned char *buf;
  long len;
  int repeat = argc > 2 ? atoi(argv[2]) : 1;
  long events = 0;
  double best = 1e9;
  if (argc < 2) { fprintf(stderr, "usage: yaml_floor FILE [REPEAT]\n"); return 2; }
  if (!(f = fopen(argv[1], "rb"))) { perror(argv[1]); return 2; }
  fseek(f, 0, SEEK_END);
  len = ftell(f);
  fseek(f, 0, SEEK_SET);
  buf = malloc(len ? (size_t)len : 1);
  if (!buf || fread(buf, 1, (size_t)len, f) != (size_t)len) { perror("read"); return 2; }
  fclose(f);
  for (int r = 0; r < repeat; r++) {
    yaml_parser_t p;
    yaml_event_t ev;
    int done = 0;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    events = 0;
    yaml_parser_initialize(&p);
    yaml_parser_set_input_string(&p, buf, (size_t)len);
    while (!done) {
      if (!yaml_parser_parse(&p, &ev)) {
        printf("error: %s at line %lu column %lu\n", p.problem ? p.problem : "?",
               (unsigned long)p.problem_mark.line + 1, (unsigned long)p.problem_mark.column + 1);
        yaml_parser_delete(&p);
        free(buf);
        return 1;
      }
      done = ev.type == YAML_STREAM_END_EVENT;
      events++;
      yaml_event_delete(&ev);
    }
    yaml_parser_delete(&p);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double dt = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    if (dt < best) best = dt;
  }
  printf("ok %ld events %.6f s\n", events, best);
  free(buf);
  return 0;
}
