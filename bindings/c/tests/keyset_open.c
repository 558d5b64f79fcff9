/* Loads a keyset file into a heap ring and opens a token with it, or seals
 * one: the C side of scripts/keyset-interop.sh.
 *   keyset_open KEYSET_FILE open TOKEN   -> prints the user ID
 *   keyset_open KEYSET_FILE seal USER    -> prints a token */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sesame.h"

int main(int argc, char **argv) {
  if (argc != 4) return 2;
  static char text[65536];
  FILE *file = fopen(argv[1], "rb");
  if (!file) return 2;
  size_t len = fread(text, 1, sizeof text, file);
  fclose(file);
  sesame_keyring *ring = NULL;
  sesame_result rc = sesame_keyring_new(&ring);
  if (rc == SESAME_OK) rc = sesame_keyring_load_keyset(ring, text, len);
  if (rc != SESAME_OK) {
    char message[256];
    size_t message_len = 0;
    sesame_keyset_check(text, len, message, sizeof message, &message_len);
    fprintf(stderr, "%s: %s\n", sesame_strerror(rc), message);
    return 1;
  }
  if (strcmp(argv[2], "open") == 0) {
    sesame_policy policy;
    sesame_claims claims;
    sesame_policy_default(&policy);
    rc = sesame_open(ring, argv[3], strlen(argv[3]), NULL, 0, &policy, sesame_unix_now(), &claims);
    if (rc == SESAME_OK) printf("%llu\n", (unsigned long long)claims.user_id);
  } else {
    char token[SESAME_TOKEN_MAX + 1];
    size_t token_len = 0;
    rc = sesame_seal(ring, strtoull(argv[3], NULL, 10), SESAME_SESSION_KIND_BROWSER, SESAME_NO_LIMIT, NULL, 0, NULL, 0, sesame_unix_now(),
                     token, sizeof token, &token_len);
    if (rc == SESAME_OK) printf("%s\n", token);
  }
  sesame_keyring_free(ring);
  if (rc != SESAME_OK) fprintf(stderr, "%s\n", sesame_strerror(rc));
  return rc == SESAME_OK ? 0 : 1;
}
