/* A small real HTTP server on libmicrohttpd whose sessions follow sesame's
 * cache-proof cookie rules (docs/COOKIES.md): every response goes through
 * sesame_request_begin/finish and carries the header lines finish writes.
 *
 *   make -C bindings/c session-server
 *   SESAME_KEYSET="$(cargo run -q --bin sesame -- keyset new)" \
 *     bindings/c/build/session_server 8080
 *
 * Usage: session_server PORT [KEYSET_FILE]
 *   The keyset is read from KEYSET_FILE, else from the environment variable
 *   SESAME_KEYSET (its text). SESAME_REFRESH_AFTER sets the policy's
 *   refresh_after in seconds (default 1, so GET responses carry refreshes);
 *   SESAME_THREADS the worker thread count (default 4). Binds 127.0.0.1 only.
 *   Stops on SIGINT or SIGTERM, releasing everything.
 *
 * Routes:
 *   POST /login   user=N (query or form body): logs in as user N
 *   POST /logout  logs out
 *   GET  /page    a cacheable page: "user N" or "anonymous"
 *   GET  /whoami  the same answer, Cache-Control: no-store (the probe path)
 *   GET  /metrics sesame_detections_total N
 */
#define _POSIX_C_SOURCE 200809L
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "sesame.h"

#if MHD_VERSION < 0x00097002
typedef int MHD_RESULT_T;
#else
typedef enum MHD_Result MHD_RESULT_T;
#endif

#define BODY_MAX 1024        /* a login form is tiny; more is refused (413) */
#define COOKIE_MAX 16384     /* sesame reads at most 16 KiB of Cookie header anyway */
#define KEYSET_MAX 65536
#define HEADERS_CAP 4096     /* "4096 bytes always suffice" (sesame.h) */

static sesame_keyring *ring;
static sesame_cookie_rules *rules;

/* Per-request state: the form body of a POST, accumulated up to BODY_MAX. */
struct conn_state {
  size_t body_len;
  int too_large;
  char body[BODY_MAX + 1];
};

/* All Cookie headers of the request joined by "; " (a browser sends one;
 * HTTP/2 front ends may split it). Cut at COOKIE_MAX. */
struct cookie_acc {
  char *buf;
  size_t len;
};

static MHD_RESULT_T collect_cookie(void *cls, enum MHD_ValueKind kind, const char *key, const char *value) {
  (void)kind;
  struct cookie_acc *acc = cls;
  if (key == NULL || value == NULL || strcasecmp(key, "Cookie") != 0) return MHD_YES;
  size_t vlen = strlen(value);
  size_t sep = acc->len > 0 ? 2 : 0;
  if (acc->len + sep + vlen > COOKIE_MAX) return MHD_YES; /* sesame cuts over-long headers at a ';' anyway */
  if (sep) {
    memcpy(acc->buf + acc->len, "; ", 2);
    acc->len += 2;
  }
  memcpy(acc->buf + acc->len, value, vlen);
  acc->len += vlen;
  acc->buf[acc->len] = '\0';
  return MHD_YES;
}

/* user=N from "a=b&user=N&..." (form body); 0 if absent or not a number. */
static uint64_t form_user(const char *body) {
  const char *p = body;
  while (p && *p) {
    if (strncmp(p, "user=", 5) == 0) {
      char *end = NULL;
      errno = 0;
      unsigned long long v = strtoull(p + 5, &end, 10);
      if (errno == 0 && end != p + 5 && (*end == '\0' || *end == '&')) return (uint64_t)v;
      return 0;
    }
    p = strchr(p, '&');
    if (p) p++;
  }
  return 0;
}

/* Adds sesame's "Name: value\n" lines: Set-Cookie added, Vary appended to
 * the app's, every other line replacing the app's header of that name. */
static int merge_headers(struct MHD_Response *resp, char *lines, size_t len, const char *app_vary) {
  size_t i = 0;
  while (i < len) {
    char *line = lines + i;
    char *nl = memchr(line, '\n', len - i);
    if (nl == NULL) return -1;
    *nl = '\0';
    i = (size_t)(nl - lines) + 1;
    char *colon = strchr(line, ':');
    if (colon == NULL || colon[1] != ' ') return -1;
    *colon = '\0';
    const char *name = line, *value = colon + 2;
    if (strcasecmp(name, "Set-Cookie") == 0) {
      if (MHD_add_response_header(resp, name, value) != MHD_YES) return -1;
    } else if (strcasecmp(name, "Vary") == 0 && app_vary != NULL) {
      char joined[256];
      int n = snprintf(joined, sizeof joined, "%s, %s", app_vary, value);
      if (n < 0 || (size_t)n >= sizeof joined) return -1;
      MHD_del_response_header(resp, "Vary", app_vary);
      if (MHD_add_response_header(resp, "Vary", joined) != MHD_YES) return -1;
    } else {
      const char *old = MHD_get_response_header(resp, name);
      if (old != NULL) {
        char copy[256];
        snprintf(copy, sizeof copy, "%s", old);
        MHD_del_response_header(resp, name, copy);
      }
      if (MHD_add_response_header(resp, name, value) != MHD_YES) return -1;
    }
  }
  return 0;
}

static MHD_RESULT_T send_text(struct MHD_Connection *conn, unsigned status, const char *body, const char *cache_control,
                              char *lines, size_t lines_len) {
  struct MHD_Response *resp =
      MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_MUST_COPY);
  if (resp == NULL) return MHD_NO;
  MHD_add_response_header(resp, "Content-Type", "text/plain; charset=utf-8");
  if (cache_control) MHD_add_response_header(resp, "Cache-Control", cache_control);
  if (merge_headers(resp, lines, lines_len, NULL) != 0) {
    MHD_destroy_response(resp);
    struct MHD_Response *err = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    if (err == NULL) return MHD_NO;
    MHD_RESULT_T r = MHD_queue_response(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, err);
    MHD_destroy_response(err);
    return r;
  }
  MHD_RESULT_T r = MHD_queue_response(conn, status, resp);
  MHD_destroy_response(resp);
  return r;
}

static MHD_RESULT_T handle(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                           const char *version, const char *upload_data, size_t *upload_data_size, void **con_cls) {
  (void)cls;
  (void)version;
  int is_post = strcmp(method, "POST") == 0;
  if (*con_cls == NULL) {
    struct conn_state *st = calloc(1, sizeof *st);
    if (st == NULL) return MHD_NO;
    *con_cls = st;
    return MHD_YES;
  }
  struct conn_state *st = *con_cls;
  if (*upload_data_size != 0) {
    if (st->body_len + *upload_data_size > BODY_MAX) {
      st->too_large = 1;
    } else {
      memcpy(st->body + st->body_len, upload_data, *upload_data_size);
      st->body_len += *upload_data_size;
      st->body[st->body_len] = '\0';
    }
    *upload_data_size = 0;
    return MHD_YES;
  }

  /* The whole request is here: begin, decide, finish. */
  char cookie[COOKIE_MAX + 1];
  struct cookie_acc acc = {cookie, 0};
  cookie[0] = '\0';
  MHD_get_connection_values(conn, MHD_HEADER_KIND, collect_cookie, &acc);

  uint64_t now = sesame_unix_now();
  sesame_request req;
  sesame_result rc = sesame_request_begin(ring, rules, method, strlen(method), acc.len ? cookie : NULL, acc.len, now, &req);
  if (rc != SESAME_OK) {
    fprintf(stderr, "session_server: begin: %s\n", sesame_strerror(rc));
    char none[1];
    return send_text(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "error\n", "no-store", none, 0);
  }
  if (req.flags & SESAME_REQUEST_LOG_DETECTION) {
    char msg[512];
    size_t mlen = 0;
    if (sesame_request_detection_message(rules, &req, msg, sizeof msg, &mlen) == SESAME_OK)
      fprintf(stderr, "session_server: %s\n", msg);
  }

  uint32_t action = SESAME_ACTION_KEEP;
  uint64_t user = 0;
  unsigned status = MHD_HTTP_OK;
  const char *cache_control = NULL;
  int known = 1;
  int logged_in = req.session == SESAME_SESSION_VALID || req.session == SESAME_SESSION_REFRESHED;

  if (strcmp(url, "/login") == 0 && is_post) {
    const char *q = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "user");
    if (q != NULL) {
      char tmp[64];
      snprintf(tmp, sizeof tmp, "user=%s", q);
      user = form_user(tmp);
    } else if (!st->too_large) {
      user = form_user(st->body);
    }
    if (user == 0) {
      status = MHD_HTTP_BAD_REQUEST;
    } else {
      action = SESAME_ACTION_LOGIN;
    }
    cache_control = "no-store";
  } else if (strcmp(url, "/logout") == 0 && is_post) {
    action = SESAME_ACTION_LOGOUT;
    cache_control = "no-store";
  } else if (strcmp(url, "/page") == 0 && !is_post) {
    cache_control = "public, max-age=60"; /* the misconfigured page: the cache stores it */
  } else if (strcmp(url, "/whoami") == 0 && !is_post) {
    cache_control = "no-store";
  } else if (strcmp(url, "/metrics") == 0 && !is_post) {
    cache_control = "no-store";
  } else {
    known = 0;
    status = MHD_HTTP_NOT_FOUND;
    cache_control = "no-store";
  }
  if (st->too_large) status = 413;

  char lines[HEADERS_CAP];
  size_t lines_len = 0;
  uint32_t fflags = 0;
  rc = sesame_request_finish(ring, rules, &req, status == MHD_HTTP_OK ? action : SESAME_ACTION_KEEP, user,
                             SESAME_SESSION_KIND_BROWSER,
                             SESAME_NO_LIMIT, NULL, 0, now, lines, sizeof lines, &lines_len, &fflags);
  if (rc != SESAME_OK) {
    fprintf(stderr, "session_server: finish: %s\n", sesame_strerror(rc));
    return send_text(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "error\n", "no-store", lines, 0);
  }
  if (fflags & SESAME_FINISH_WARN_UNPROTECTED_GET_LOGIN)
    fprintf(stderr, "session_server: warning: login on GET without a device cookie\n");
  if (fflags & SESAME_FINISH_WARN_GET_LOGOUT) fprintf(stderr, "session_server: warning: logout on GET\n");

  char body[128];
  if (!known) {
    snprintf(body, sizeof body, "not found\n");
  } else if (status != MHD_HTTP_OK) {
    snprintf(body, sizeof body, "bad request\n");
  } else if (strcmp(url, "/metrics") == 0) {
    uint64_t total = 0;
    sesame_cookie_rules_detections(rules, &total);
    snprintf(body, sizeof body, "sesame_detections_total %" PRIu64 "\n", total);
  } else if (action == SESAME_ACTION_LOGIN) {
    snprintf(body, sizeof body, "user %" PRIu64 "\n", req.claims.user_id);
  } else if (action == SESAME_ACTION_LOGOUT || !logged_in) {
    snprintf(body, sizeof body, "anonymous\n");
  } else {
    snprintf(body, sizeof body, "user %" PRIu64 "\n", req.claims.user_id);
  }
  return send_text(conn, status, body, cache_control, lines, lines_len);
}

static void completed(void *cls, struct MHD_Connection *conn, void **con_cls, enum MHD_RequestTerminationCode toe) {
  (void)cls;
  (void)conn;
  (void)toe;
  free(*con_cls);
  *con_cls = NULL;
}

static char *read_keyset(const char *path) {
  if (path == NULL) {
    const char *env = getenv("SESAME_KEYSET");
    if (env == NULL || *env == '\0') return NULL;
    return strdup(env);
  }
  FILE *f = fopen(path, "rb");
  if (f == NULL) return NULL;
  char *buf = malloc(KEYSET_MAX + 1);
  if (buf == NULL) {
    fclose(f);
    return NULL;
  }
  size_t n = fread(buf, 1, KEYSET_MAX, f);
  fclose(f);
  buf[n] = '\0';
  return buf;
}

static unsigned long env_ulong(const char *name, unsigned long dflt, unsigned long max) {
  const char *v = getenv(name);
  if (v == NULL || *v == '\0') return dflt;
  char *end = NULL;
  unsigned long n = strtoul(v, &end, 10);
  if (*end != '\0' || n > max) {
    fprintf(stderr, "session_server: ignoring %s=%s\n", name, v);
    return dflt;
  }
  return n;
}

int main(int argc, char **argv) {
  if (argc < 2 || argc > 3) {
    fprintf(stderr, "usage: %s PORT [KEYSET_FILE]   (or the keyset in $SESAME_KEYSET)\n", argv[0]);
    return 2;
  }
  char *end = NULL;
  unsigned long port = strtoul(argv[1], &end, 10);
  if (*end != '\0' || port == 0 || port > 65535) {
    fprintf(stderr, "session_server: bad port %s\n", argv[1]);
    return 2;
  }
  char *keyset = read_keyset(argc == 3 ? argv[2] : NULL);
  if (keyset == NULL) {
    fprintf(stderr, "session_server: no keyset (file argument or SESAME_KEYSET)\n");
    return 2;
  }
  int status = 1;
  struct MHD_Daemon *d = NULL;
  sesame_result rc = sesame_keyring_new(&ring);
  if (rc != SESAME_OK) goto out;
  rc = sesame_keyring_load_keyset(ring, keyset, strlen(keyset));
  if (rc != SESAME_OK) {
    char msg[256];
    size_t mlen = 0;
    sesame_keyset_check(keyset, strlen(keyset), msg, sizeof msg, &mlen);
    fprintf(stderr, "session_server: keyset: %s\n", rc == SESAME_INVALID_KEYSET ? msg : sesame_strerror(rc));
    goto out;
  }
  sesame_policy policy;
  sesame_policy_default(&policy);
  policy.refresh_after = env_ulong("SESAME_REFRESH_AFTER", 1, 86400);
  rc = sesame_cookie_rules_new(&policy, NULL, 0, NULL, 0, &rules);
  if (rc != SESAME_OK) goto out;

  /* SIGINT/SIGTERM blocked in every thread (MHD's inherit the mask) and
   * taken by sigwait below: a clean stop, whichever thread it hits. */
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGINT);
  sigaddset(&sigs, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &sigs, NULL);
  signal(SIGPIPE, SIG_IGN);

  struct sockaddr_in addr;
  memset(&addr, 0, sizeof addr);
  addr.sin_family = AF_INET;
  addr.sin_port = htons((uint16_t)port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  unsigned threads = (unsigned)env_ulong("SESAME_THREADS", 4, 64);
  d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG, (uint16_t)port, NULL, NULL,
                       handle, NULL, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr, MHD_OPTION_THREAD_POOL_SIZE,
                       threads ? threads : 1u, MHD_OPTION_NOTIFY_COMPLETED, completed, NULL,
                       MHD_OPTION_CONNECTION_TIMEOUT, 30u, MHD_OPTION_CONNECTION_LIMIT, 512u, MHD_OPTION_END);
  if (d == NULL) {
    fprintf(stderr, "session_server: cannot listen on 127.0.0.1:%lu\n", port);
    goto out;
  }
  fprintf(stderr, "session_server: listening on 127.0.0.1:%lu (sesame %s, refresh_after %" PRIu64 " s)\n", port,
          sesame_version(), policy.refresh_after);

  int sig = 0;
  sigwait(&sigs, &sig);
  status = 0;

out:
  if (rc != SESAME_OK) fprintf(stderr, "session_server: %s\n", sesame_strerror(rc));
  if (d) MHD_stop_daemon(d);
  uint64_t total = 0;
  if (rules) sesame_cookie_rules_detections(rules, &total);
  if (status == 0) fprintf(stderr, "session_server: stopped (%" PRIu64 " detections)\n", total);
  sesame_cookie_rules_free(rules);
  sesame_keyring_free(ring);
  free(keyset);
  return status;
}
