#ifndef BHIVE_VERIFY_H
#define BHIVE_VERIFY_H

/*
 * Verifiers: external checks whose feedback is added to the conversation
 * before each revision (see docs/PROMPTS.md).
 */

#include "error.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * A verifier. question: the text of the original user message; answer: one
 * model answer. Returns feedback text (allocated with malloc; the library
 * frees it) or NULL with err filled when the verifier itself failed.
 * *score, when the verifier can judge: 1.0 verified correct, 0.0 wrong,
 * values in between for partial credit; leave it untouched (it starts at
 * -1) when it cannot judge. Called on the thread that runs the engine.
 */
typedef char *(*bhive_verifier_fn)(void *ud, const char *question, const char *answer,
                                   double *score, bhive_error *err);

#ifdef __cplusplus
}
#endif
#endif
