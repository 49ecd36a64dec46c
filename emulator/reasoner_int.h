/*
 * reasoner_int.h - pieces of the simulated reasoner shared by its files:
 * the request as plain texts (reasoner.c), arithmetic with step errors and
 * catches (reasoner_arith.c), and the other kinds of prompt (reasoner_text.c).
 * The model behind the numbers is described in docs/SIMULATION.md.
 *
 * Internal to the emulator; tests may include it.
 */
#ifndef EMU_REASONER_INT_H
#define EMU_REASONER_INT_H

#include "reasoner.h"

/* The request as the reasoner reads it. Texts are owned by the context. */
typedef struct emu_ctx {
	const emu_reasoner_params *p;
	double reflection;          /* effective aptitude (params or derived from skill) */
	uint64_t model_key;         /* hash of (seed, skill): the model's identity */
	bh_rng rng;                 /* seeded from model_key and every message text */
	size_t n;                   /* messages */
	char **text;                /* each message's text blocks, joined */
	bool *user;                 /* role of each message */
	const char *first_user;     /* first user message ("" when none) */
	const char *last_user;      /* last user message ("" when none) */
	const char *last_assistant; /* last assistant message, NULL when none */
	int turns;                  /* assistant messages so far: the round */
} emu_ctx;

/*
 * What a simulated model says, in two parts: the working (steps, which
 * becomes reasoningContent when a reasoning budget was asked for) and the
 * conclusion; value is the answer it states ("" when none).
 */
typedef struct emu_answer {
	bh_buf work;
	bh_buf final;
	char value[64];
} emu_answer;

/* Effective reflection aptitude for a skill when none is configured. */
double emu_reflection_for_skill(double skill);

/* ---- arithmetic benchmark: a+b*c+d-e*f (reasoner_arith.c) ----------- */
typedef struct emu_arith {
	long long op[6]; /* a b c d e f */
} emu_arith;

/* Finds "a+b*c+d-e*f" (spaces around operators allowed) in text. */
bool emu_arith_find(const char *text, emu_arith *q);
long long emu_arith_value(const emu_arith *q);
/* Answers the question in the context: first attempt, reflection or debate. */
int emu_arith_answer(emu_ctx *c, const emu_arith *q, emu_answer *out);

/* Verifier feedback as the reasoner understands it. */
enum { EMU_FEEDBACK_NONE, EMU_FEEDBACK_RIGHT, EMU_FEEDBACK_WRONG };
int emu_feedback_class(const char *feedback, size_t len);

/* Other agents' answers in a debate or aggregation turn. */
typedef struct emu_vote {
	char value[64]; /* the <answer> value, "" when none */
	int feedback;   /* EMU_FEEDBACK_* given to it */
} emu_vote;
/* Parses up to max "One agent response: ```...```" blocks; returns the count. */
size_t emu_votes_parse(const char *text, emu_vote *votes, size_t max);
/* Index of the most frequent non-empty value (ties: the first), -1 if none;
 * votes marked wrong by a verifier are skipped when skip_wrong. */
int emu_votes_majority(const emu_vote *votes, size_t n, bool skip_wrong, size_t *count);

/* ---- other prompts (reasoner_text.c) -------------------------------- */
/* Text of the last <tag>...</tag> in text, trimmed, into out. */
bool emu_tag_value(const char *text, const char *tag, char *out, size_t outsz);
/* "What is 17 * 3?" and the like; false when text is not such a question. */
bool emu_simple_answer(const char *text, emu_answer *out);
int emu_rephrase_answer(emu_ctx *c, emu_answer *out);
int emu_aggregate_answer(emu_ctx *c, emu_answer *out);
int emu_generic_answer(emu_ctx *c, emu_answer *out);
/* An instance of schema whose answer-like properties hold answer. NULL if
 * the schema cannot be satisfied by this simple filler. */
json_t *emu_schema_instance(const json_t *schema, const char *answer, const char *work);

#endif
