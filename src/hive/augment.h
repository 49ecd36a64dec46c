/*
 * augment.h - input augmentation: a different wording of the prompt for
 * each extra slot of a debate, so that samples of one model do not all
 * start from the same text. Slot 0 always keeps the original prompt.
 *
 * Lexical: seeded, deterministic character perturbations at a rate. Digits,
 * operators and punctuation, anything inside <...> tags and inside ```
 * fences are never touched, so an arithmetic question stays solvable.
 *   keyboard  a letter becomes a neighbour on a QWERTY keyboard
 *   ocr       look-alike letters: l<->I, rn<->m, cl->d, vv<->w, e<->c ...
 *             (never a letter into a digit such as O->0: that would add
 *             numbers to the prompt)
 *   spelling  two adjacent letters swapped, a letter dropped or doubled
 *
 * Semantic: a model rephrases the prompt (bh_augment_rephrase_prompt) and
 * bh_augment_parse_rephrased reads its reply; on a parse error the engine
 * falls back to the original prompt and says so in its trace.
 *
 * Not API: internal to libbhive.
 */
#ifndef BH_AUGMENT_H
#define BH_AUGMENT_H

#include "bhive/error.h"
#include <stdint.h>

enum {
	BH_AUGMENT_KEYBOARD = 1 << 0,
	BH_AUGMENT_OCR = 1 << 1,
	BH_AUGMENT_SPELLING = 1 << 2,
	BH_AUGMENT_LEXICAL = BH_AUGMENT_KEYBOARD | BH_AUGMENT_OCR | BH_AUGMENT_SPELLING,
	BH_AUGMENT_SEMANTIC = 1 << 3
};

/*
 * Parses a comma-separated list of kinds: "keyboard", "ocr", "spelling",
 * "lexical" (all three), "semantic", "none". Returns 0 and *kinds, or
 * BHIVE_ERR_INVALID naming the unknown word.
 */
int bh_augment_parse_kinds(const char *text, unsigned *kinds, bhive_error *err);

/*
 * A lexically perturbed copy of prompt: each eligible letter is perturbed
 * with probability rate (0..1) by one of the lexical kinds in kinds. The
 * result depends only on (prompt, kinds, rate, seed, slot); different slots
 * give different variants. slot 0 returns an unchanged copy. Returns a
 * bh_malloc'd string, NULL when out of memory.
 */
char *bh_augment_lexical(const char *prompt, unsigned kinds, double rate, uint64_t seed, int slot);

/*
 * The user message asking a model to rephrase prompt:
 *   "Rephrase the following prompt without changing its meaning. Keep every
 *    number, name and instruction. Reply with the rephrased prompt only,
 *    inside <rephrased></rephrased> tags.\n<prompt>{prompt}</prompt>"
 * bh_malloc'd, NULL when out of memory.
 */
char *bh_augment_rephrase_prompt(const char *prompt);

/*
 * The rephrased prompt in reply: the text of the last
 * <rephrased>...</rephrased>, trimmed. Missing or empty tags are
 * BHIVE_ERR_PARSE. bh_malloc'd.
 */
char *bh_augment_parse_rephrased(const char *reply, bhive_error *err);

#endif
