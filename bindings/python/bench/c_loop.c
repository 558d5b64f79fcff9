/* The bare C cost of sesame_seal and sesame_open on this machine, for the
 * Python benchmark's table: the same session as bench.py's sesame row
 * (user 123456, no data, no context, the default policy), a C loop, best of
 * ROUNDS rounds of N calls, nanoseconds per call. bench.py compiles and runs
 * it; by hand:
 *
 *   cc -O2 -I include bindings/python/bench/c_loop.c -L target/release -lsesame \
 *      -Wl,-rpath,$PWD/target/release -o /tmp/c_loop && /tmp/c_loop
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sesame.h"

#define N 200000
#define ROUNDS 7

static double now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

int main(void) {
  struct sesame_keyring *ring = NULL;
  uint8_t key[SESAME_KEY_BYTES];
  for (size_t i = 0; i < sizeof key; i++) key[i] = (uint8_t)(i * 7 + 1);
  if (sesame_keyring_new(&ring) != SESAME_OK || sesame_keyring_add_key(ring, 1, key, sizeof key) != SESAME_OK) {
    fprintf(stderr, "c_loop: no ring\n");
    return 1;
  }
  struct sesame_policy policy;
  sesame_policy_default(&policy);
  uint64_t now = (uint64_t)time(NULL);
  char token[SESAME_TOKEN_MAX + 1];
  size_t token_len = 0;
  struct sesame_claims claims;
  double best_seal = 1e30, best_open = 1e30;
  for (int round = 0; round < ROUNDS; round++) {
    double start = now_ns();
    for (int i = 0; i < N; i++) {
      if (sesame_seal(ring, 123456, SESAME_SESSION_KIND_BROWSER, SESAME_NO_LIMIT, NULL, 0, NULL, 0, now, token, sizeof token, &token_len) != SESAME_OK) return 1;
    }
    double seal = (now_ns() - start) / N;
    start = now_ns();
    for (int i = 0; i < N; i++) {
      if (sesame_open(ring, token, token_len, NULL, 0, &policy, now, &claims) != SESAME_OK) return 1;
    }
    double open = (now_ns() - start) / N;
    if (seal < best_seal) best_seal = seal;
    if (open < best_open) best_open = open;
  }
  if (claims.user_id != 123456) return 1;
  printf("seal_ns %.1f\nopen_ns %.1f\n", best_seal, best_open);
  sesame_keyring_free(ring);
  return 0;
}
