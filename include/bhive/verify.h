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

/* ---- built-in verifiers ------------------------------------------------ */

/*
 * Arithmetic: finds the integer expression in question (the benchmark form
 * "What is the result of 12+3*4-5? ..." or any expression of integers with
 * + - * / and parentheses; "/" is exact division, a remainder makes it
 * unusable), evaluates it with overflow checks, takes the answer from the
 * last <answer>X</answer> in answer (else its last number) and returns
 * exactly one of:
 *   "The answer X is correct: the expression evaluates to X."   (*score 1)
 *   "The answer X is incorrect."                                (*score 0)
 *   "No answer was found in <answer></answer> tags."            (*score 0)
 * The emulator's simulated models recognise these texts. A question without
 * an expression it can evaluate is BHIVE_ERR_VERIFIER (NULL returned).
 * ud is unused (pass NULL).
 */
char *bhive_verifier_arithmetic(void *ud, const char *question, const char *answer, double *score,
                                bhive_error *err);

/*
 * Evaluates an integer expression (+ - * / parentheses, unary minus) as the
 * arithmetic verifier does. Returns 0 and *out, or BHIVE_ERR_INVALID for a
 * syntax error, overflow, division by zero or inexact division.
 */
int bhive_arith_eval(const char *expr, long long *out, bhive_error *err);

/*
 * SQL: a verifier for text-to-SQL answers. It finds the SQL in the answer
 * (a ```sql fence, else <sql></sql> tags, else the last SELECT or WITH
 * statement), runs it against the SQLite database at db_path opened
 * read-only (writes, ATTACH, PRAGMA and transactions are refused by an authorizer,
 * a time limit stops runaway queries) and returns the result as text:
 *   "The query returned 2 rows:\nname | n\nada | 3\nbob | 1"
 * (at most max_rows rows, then "(N more rows)"), or the SQLite error:
 *   "the query failed: no such column: x"
 * or "No SQL query was found in the answer.". *score is left alone unless
 * an expected query is set: then 1 when the answer's rows equal the
 * expected query's rows (as a multiset), else 0.
 *
 * Pass the handle as the verifier's ud. The handle belongs to one thread at
 * a time.
 */
typedef struct bhive_sql_verifier bhive_sql_verifier;

/* Opens db_path read-only; NULL with err (BHIVE_ERR_VERIFIER) if it cannot. */
bhive_sql_verifier *bhive_verifier_sql_new(const char *db_path, bhive_error *err);
void bhive_verifier_sql_free(bhive_sql_verifier *v); /* NULL ok */
/* Rows shown (default 20, at least 1) and time limit per query (default 5000 ms). */
void bhive_verifier_sql_set_limits(bhive_sql_verifier *v, int max_rows, long time_limit_ms);
/* A reference query whose rows a correct answer reproduces (copied; NULL clears). */
int bhive_verifier_sql_set_expected(bhive_sql_verifier *v, const char *expected_sql,
                                    bhive_error *err);
/* The bhive_verifier_fn; ud is a bhive_sql_verifier. */
char *bhive_verifier_sql(void *ud, const char *question, const char *answer, double *score,
                         bhive_error *err);

#ifdef __cplusplus
}
#endif
#endif
