/* The C tests' checks: count passes and failures, print each failure with
 * its line, and end with "N passed, N failed". */
#ifndef SESAME_TEST_CHECK_H
#define SESAME_TEST_CHECK_H
#include <stdio.h>

static int passed, failed;

#define CHECK(cond)                                                          \
  do {                                                                       \
    if (cond) {                                                              \
      passed++;                                                              \
    } else {                                                                 \
      failed++;                                                              \
      fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
    }                                                                        \
  } while (0)

#define CHECK_RC(call, expected)                                             \
  do {                                                                       \
    sesame_result rc_ = (call);                                              \
    if (rc_ == (sesame_result)(expected)) {                                  \
      passed++;                                                              \
    } else {                                                                 \
      failed++;                                                              \
      fprintf(stderr, "%s:%d: %s returned %u (%s), expected %s\n", __FILE__, \
              __LINE__, #call, (unsigned)rc_, sesame_strerror(rc_), #expected); \
    }                                                                        \
  } while (0)

#endif
