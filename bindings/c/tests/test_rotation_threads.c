/* Threads seal, open and refresh through one heap ring while another thread
 * rotates its keys (add, promote, retire) with no lock of the caller's: every
 * opened token names exactly the user it was sealed for, and the only
 * failure allowed is SESAME_UNKNOWN_KEY for a token whose key was retired
 * after it was sealed. Run plainly, and under valgrind's helgrind and DRD
 * against a library built with the `helgrind` feature, whose annotations let
 * the tools see the ring's lock-free protocol. Ends with "N passed, N failed".
 *
 *   test_rotation_threads [rotations [operations per reader]]   (2000, 20000)
 * Both are fixed counts, so the run is bounded whatever the scheduling. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sesame.h"
#include "check.h"

enum { READERS = 3, KEEP_KEYS = 3 };

static sesame_keyring *ring;
static long operations = 20000;
static atomic_uint newest_key = 1;

typedef struct {
  int index;
  long opened, refreshed, unknown_key, unknown_at_open, wrong_user, other_errors;
} reader_stats;

static void key_bytes(uint32_t id, uint8_t key[SESAME_KEY_BYTES]) {
  for (size_t i = 0; i < SESAME_KEY_BYTES; i++) key[i] = (uint8_t)(id * 31u + i + 1u);
}

/* UNKNOWN_KEY is fine only for a key that the rotator has already retired. */
static int retired_since(const char *token, size_t len) {
  uint32_t id = 0;
  if (sesame_token_key_id(token, len, &id) != SESAME_OK) return 0;
  return id + KEEP_KEYS <= atomic_load(&newest_key) + 1u;
}

static void *reader(void *arg) {
  reader_stats *s = arg;
  sesame_policy policy;
  sesame_policy_default(&policy);
  uint64_t now = sesame_unix_now();
  for (uint64_t i = 0; i < (uint64_t)operations; i++) {
    uint64_t user = ((uint64_t)s->index << 32) | i;
    char token[SESAME_TOKEN_MAX + 1], fresh[SESAME_TOKEN_MAX + 1];
    size_t len = 0, fresh_len = 0;
    sesame_result rc = sesame_seal(ring, user, SESAME_SESSION_KIND_BROWSER, SESAME_NO_LIMIT, (const uint8_t *)&user, sizeof user,
                                   NULL, 0, now, token, sizeof token, &len);
    if (rc != SESAME_OK) {
      s->other_errors++;
      continue;
    }
    sesame_claims claims;
    rc = sesame_open(ring, token, len, NULL, 0, &policy, now, &claims);
    if (rc == SESAME_OK) {
      s->opened++;
      if (claims.user_id != user || claims.data_len != sizeof user || memcmp(claims.data, &user, sizeof user) != 0)
        s->wrong_user++;
    } else if (rc == SESAME_UNKNOWN_KEY && retired_since(token, len)) {
      s->unknown_key++;
      s->unknown_at_open++;
      continue;
    } else {
      s->other_errors++;
      continue;
    }
    rc = sesame_refresh(ring, token, len, NULL, 0, &policy, now, fresh, sizeof fresh, &fresh_len, &claims);
    if (rc == SESAME_OK) {
      s->refreshed++;
      if (claims.user_id != user) s->wrong_user++;
    } else if (rc == SESAME_UNKNOWN_KEY && retired_since(token, len)) {
      s->unknown_key++;
    } else {
      s->other_errors++;
    }
  }
  return NULL;
}

int main(int argc, char **argv) {
  long rotations = argc > 1 ? atol(argv[1]) : 2000;
  if (argc > 2) operations = atol(argv[2]);

  uint8_t key[SESAME_KEY_BYTES];
  CHECK(sesame_keyring_new(&ring) == SESAME_OK);
  key_bytes(1, key);
  CHECK(sesame_keyring_add_key(ring, 1, key, sizeof key) == SESAME_OK);

  pthread_t threads[READERS];
  reader_stats stats[READERS];
  for (int t = 0; t < READERS; t++) {
    memset(&stats[t], 0, sizeof stats[t]);
    stats[t].index = t;
    CHECK(pthread_create(&threads[t], NULL, reader, &stats[t]) == 0);
  }

  /* The rotator: a new key in decrypt-only, then promoted, then the oldest
   * of more than KEEP_KEYS retired; the ring never holds more than
   * KEEP_KEYS + 1 keys. */
  long change_errors = 0;
  for (uint32_t id = 2; id < (uint32_t)rotations + 2; id++) {
    key_bytes(id, key);
    change_errors += sesame_keyring_add_key(ring, id, key, sizeof key) != SESAME_OK;
    change_errors += sesame_keyring_promote(ring, id) != SESAME_OK;
    atomic_store(&newest_key, id);
    if (id > KEEP_KEYS) change_errors += sesame_keyring_retire(ring, id - KEEP_KEYS) != SESAME_OK;
  }

  long opened = 0, refreshed = 0, unknown_key = 0, unknown_at_open = 0, wrong_user = 0, other_errors = 0;
  for (int t = 0; t < READERS; t++) {
    CHECK(pthread_join(threads[t], NULL) == 0);
    opened += stats[t].opened;
    refreshed += stats[t].refreshed;
    unknown_key += stats[t].unknown_key;
    unknown_at_open += stats[t].unknown_at_open;
    wrong_user += stats[t].wrong_user;
    other_errors += stats[t].other_errors;
  }
  uint32_t ids[SESAME_RING_CAPACITY];
  size_t count = 0;
  CHECK(sesame_keyring_key_ids(ring, ids, SESAME_RING_CAPACITY, &count) == SESAME_OK);
  CHECK(count == KEEP_KEYS);
  CHECK(count > 0 && ids[count - 1] == (uint32_t)rotations + 1);
  uint32_t primary = 0;
  CHECK(sesame_keyring_primary_id(ring, &primary) == SESAME_OK && primary == (uint32_t)rotations + 1);
  sesame_keyring_free(ring);

  printf("rotations %ld, opened %ld, refreshed %ld, unknown key after retire %ld, wrong user %ld, other errors %ld\n",
         rotations, opened, refreshed, unknown_key, wrong_user, other_errors);
  CHECK(change_errors == 0);
  CHECK(wrong_user == 0);
  CHECK(other_errors == 0);
  CHECK(opened + unknown_at_open == READERS * operations);
  printf("%d passed, %d failed\n", passed, failed);
  return failed == 0 ? 0 : 1;
}
