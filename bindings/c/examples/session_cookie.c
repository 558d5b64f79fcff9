/* A C server's session cookie with sesame, start to finish: issue a cookie
 * value at login, open it on the next request, refresh it when due, and
 * reject a tampered cookie, a cookie from another browser, and a session the
 * user logged out everywhere.
 *
 *   cc -std=c11 -Iinclude session_cookie.c target/release/libsesame.a \
 *      -lpthread -ldl -lm -o session_cookie
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "sesame.h"

/* In a real server: from a secret store, never from source code. */
static const char MASTER_SECRET[] = "replace with 32+ random bytes from your vault";

static int fail(const char *what, sesame_result rc) {
  fprintf(stderr, "%s: %s\n", what, sesame_strerror(rc));
  return 1;
}

int main(void) {
  sesame_keyring *ring = NULL;
  sesame_result rc = sesame_keyring_new(&ring);
  if (rc != SESAME_OK) return fail("keyring", rc);
  rc = sesame_keyring_derive_key(ring, 1, (const uint8_t *)MASTER_SECRET, strlen(MASTER_SECRET),
                                 (const uint8_t *)"session cookie", strlen("session cookie"));
  if (rc != SESAME_OK) return fail("derive key", rc);

  sesame_policy policy;
  sesame_policy_default(&policy);
  uint64_t now = sesame_unix_now();

  /* Bind the session to this browser: a hash of a long-lived device cookie. */
  const uint8_t device[] = "device-cookie-digest-of-this-browser";

  /* 1. Login: issue the cookie. */
  char cookie[SESAME_TOKEN_MAX + 1];
  size_t cookie_len = 0;
  rc = sesame_seal(ring, 123456, SESAME_SESSION_KIND_BROWSER, SESAME_NO_LIMIT, NULL, 0, device, sizeof device - 1, now, cookie, sizeof cookie,
                   &cookie_len);
  if (rc != SESAME_OK) return fail("seal", rc);
  printf("Set-Cookie: session=%s; HttpOnly; Secure; SameSite=Lax; Path=/\n", cookie);
  printf("Cache-Control: private, no-store\n");

  /* 2. Next request: open it. */
  sesame_claims claims;
  rc = sesame_open(ring, cookie, cookie_len, device, sizeof device - 1, &policy, now + 60, &claims);
  if (rc != SESAME_OK) return fail("open", rc);
  printf("request as user %llu (session issued at %llu)\n", (unsigned long long)claims.user_id,
         (unsigned long long)claims.issued_at);

  /* 3. Twenty minutes later the cookie is due for a refresh. */
  int due = 0;
  sesame_should_refresh(&policy, &claims, now + 20 * 60, &due);
  if (due) {
    char fresh[SESAME_TOKEN_MAX + 1];
    size_t fresh_len = 0;
    rc = sesame_refresh(ring, cookie, cookie_len, device, sizeof device - 1, &policy, now + 20 * 60, fresh, sizeof fresh,
                        &fresh_len, &claims);
    if (rc != SESAME_OK) return fail("refresh", rc);
    printf("refreshed: Set-Cookie: session=%s (refreshed_at %llu)\n", fresh, (unsigned long long)claims.refreshed_at);
  }

  /* 4. Rejections: each is a clear code, never a crash. */
  char tampered[SESAME_TOKEN_MAX + 1];
  memcpy(tampered, cookie, cookie_len + 1);
  tampered[cookie_len / 2] = tampered[cookie_len / 2] == 'A' ? 'B' : 'A';
  rc = sesame_open(ring, tampered, cookie_len, device, sizeof device - 1, &policy, now, &claims);
  printf("tampered cookie: %s\n", sesame_strerror(rc));
  if (rc == SESAME_OK) return 1;

  const uint8_t other_browser[] = "a different browser";
  rc = sesame_open(ring, cookie, cookie_len, other_browser, sizeof other_browser - 1, &policy, now, &claims);
  printf("cookie replayed from another browser: %s\n", sesame_strerror(rc));
  if (rc == SESAME_OK) return 1;

  /* "Log out everywhere": the app stores a per-user cut-off and applies it. */
  uint64_t user_logged_out_at = now + 120;
  rc = sesame_open(ring, cookie, cookie_len, device, sizeof device - 1, &policy, now + 180, &claims);
  if (rc == SESAME_OK) rc = sesame_check_revoked_before(&claims, user_logged_out_at);
  printf("cookie after logging out everywhere: %s\n", sesame_strerror(rc));
  if (rc != SESAME_REVOKED) return 1;

  rc = sesame_open(ring, cookie, cookie_len, device, sizeof device - 1, &policy, now + 2 * 86400, &claims);
  printf("cookie two idle days later: %s\n", sesame_strerror(rc));
  if (rc != SESAME_IDLE_EXPIRED) return 1;

  sesame_keyring_free(ring);
  return 0;
}
