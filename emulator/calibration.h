/*
 * calibration.h - runs the simulated reasoners on the arithmetic benchmark
 * exactly as `bhive bench --arithmetic` against bhive-emulator would for
 * single-model self-reflection (docs/PROMPTS.md), in process, and holds the published curves of the
 * Python original to compare with. Used by bench/calibrate.c and
 * tests/test_reasoner.c.
 */
#ifndef EMU_CALIBRATION_H
#define EMU_CALIBRATION_H

#include "reasoner.h"

enum { EMU_EASY, EMU_MEDIUM, EMU_HARD, EMU_DIFFICULTIES };
#define EMU_CALIB_MAX_ROUNDS 10

typedef struct emu_calib_result {
	int rounds; /* reflections run */
	int questions;
	double accuracy[EMU_CALIB_MAX_ROUNDS + 1];      /* by round, 0 = first answer */
	double input_tokens[EMU_CALIB_MAX_ROUNDS + 1];  /* mean per question, chars / 4 */
	double output_tokens[EMU_CALIB_MAX_ROUNDS + 1]; /* mean per question, chars / 4 */
} emu_calib_result;

/* "easy", "medium", "hard". */
const char *emu_difficulty_name(int difficulty);
/* Operands are uniform in [lo, hi): [0,50), [250,750), [1000,2000). */
void emu_difficulty_range(int difficulty, long *lo, long *hi);
/* Published accuracy of Claude 3 Sonnet by round (0..5); < 0 when not published. */
double emu_published_accuracy(int difficulty, int round);

/* The seed the server passes the reasoner for p's model under --seed seed. */
uint64_t emu_calib_model_seed(const emu_reasoner_params *p, uint64_t seed);

/*
 * The first n questions of bhive_dataset_arithmetic(difficulty, n, seed)
 * (what `bhive bench --arithmetic D:N --seed S` asks), each answered with
 * the given number of reflection rounds (at most EMU_CALIB_MAX_ROUNDS) by
 * the reasoner seeded as `bhive-emulator --seed S` seeds it, and scored by
 * the in-tags evaluator. Returns 0 or a bhive_code.
 */
int emu_calibrate(const emu_reasoner_params *p, int difficulty, int n, int rounds, uint64_t seed,
                  emu_calib_result *out, bhive_error *err);

#endif
