/*
 * models_default.c - the built-in model table: the ids the Python
 * original's README and benchmarks use, and current Claude, Nova, Llama,
 * Mistral and DeepSeek ids, each mapped to a simulated reasoner.
 *
 * Skill 0.60 with reflection 1.0 is Claude 3 Sonnet, the model the
 * published curves were measured with (bench/calibrate.c checks them). The
 * other skills are an ordering, not measurements: older and smaller models
 * below, current large ones above. Claude 3 Haiku gets a high reflection
 * aptitude so that, as the original found on medium arithmetic, three of
 * its reflections beat three of Sonnet's. Latency: base milliseconds plus
 * milliseconds per output token, of the order these models show on Bedrock.
 */
#include "reasoner.h"
#include <string.h>

static const emu_default_model models[] = {
    /* id                                          skill base  ms/tok json  refl */
    {"anthropic.claude-3-sonnet-20240229-v1:0", 0.60, 600, 15.0, false, 1.0},
    {"anthropic.claude-3-haiku-20240307-v1:0", 0.50, 300, 4.5, false, 2.5},
    {"anthropic.claude-3-5-sonnet-20240620-v1:0", 0.72, 500, 12.0, false, 0},
    {"anthropic.claude-3-5-sonnet-20241022-v2:0", 0.75, 500, 12.0, false, 0},
    {"anthropic.claude-3-5-haiku-20241022-v1:0", 0.62, 400, 9.0, false, 0},
    {"anthropic.claude-3-7-sonnet-20250219-v1:0", 0.80, 550, 13.0, false, 0},
    {"anthropic.claude-sonnet-4-20250514-v1:0", 0.85, 600, 14.0, true, 0},
    {"anthropic.claude-opus-4-20250514-v1:0", 0.88, 900, 28.0, true, 0},
    {"anthropic.claude-opus-4-1-20250805-v1:0", 0.90, 900, 28.0, true, 0},
    {"anthropic.claude-sonnet-4-5-20250929-v1:0", 0.92, 600, 13.0, true, 0},
    {"anthropic.claude-haiku-4-5-20251001-v1:0", 0.80, 350, 7.0, true, 0},
    {"mistral.mistral-large-2402-v1:0", 0.52, 600, 20.0, false, 0},
    {"mistral.mistral-small-2402-v1:0", 0.40, 350, 9.0, false, 0},
    {"mistral.mistral-large-2407-v1:0", 0.62, 550, 18.0, false, 0},
    {"mistral.pixtral-large-2502-v1:0", 0.64, 600, 18.0, false, 0},
    {"meta.llama3-70b-instruct-v1:0", 0.48, 450, 16.0, false, 0},
    {"meta.llama3-1-70b-instruct-v1:0", 0.55, 450, 15.0, false, 0},
    {"meta.llama3-1-8b-instruct-v1:0", 0.30, 250, 6.0, false, 0},
    {"meta.llama3-3-70b-instruct-v1:0", 0.58, 450, 14.0, false, 0},
    {"meta.llama4-maverick-17b-instruct-v1:0", 0.62, 400, 9.0, false, 0},
    {"meta.llama4-scout-17b-instruct-v1:0", 0.55, 350, 8.0, false, 0},
    {"amazon.nova-micro-v1:0", 0.38, 250, 5.0, true, 0},
    {"amazon.nova-lite-v1:0", 0.45, 300, 6.0, true, 0},
    {"amazon.nova-pro-v1:0", 0.58, 400, 10.0, true, 0},
    {"amazon.nova-premier-v1:0", 0.75, 700, 18.0, true, 0},
    {"deepseek.r1-v1:0", 0.90, 800, 25.0, false, 0},
    {"deepseek.v3-v1:0", 0.75, 600, 16.0, false, 0},
    /* the rest of the price table (data/prices.json), so every priced id runs */
    {"anthropic.claude-3-opus-20240229-v1:0", 0.68, 900, 30.0, false, 0},
    {"anthropic.claude-opus-4-5-20251101-v1:0", 0.94, 800, 22.0, true, 0},
    {"amazon.nova-2-lite-v1:0", 0.62, 300, 6.0, true, 0},
    {"meta.llama3-8b-instruct-v1:0", 0.28, 250, 6.0, false, 0},
    {"meta.llama3-1-405b-instruct-v1:0", 0.62, 600, 25.0, false, 0},
    {"meta.llama3-2-1b-instruct-v1:0", 0.15, 200, 4.0, false, 0},
    {"meta.llama3-2-3b-instruct-v1:0", 0.22, 200, 5.0, false, 0},
    {"meta.llama3-2-11b-instruct-v1:0", 0.32, 300, 7.0, false, 0},
    {"meta.llama3-2-90b-instruct-v1:0", 0.52, 450, 16.0, false, 0},
    {"mistral.mistral-7b-instruct-v0:2", 0.25, 250, 6.0, false, 0},
    {"mistral.mixtral-8x7b-instruct-v0:1", 0.35, 300, 8.0, false, 0},
    {"writer.palmyra-x4-v1:0", 0.50, 500, 15.0, false, 0},
    {"writer.palmyra-x5-v1:0", 0.60, 500, 14.0, false, 0},
};

const emu_default_model *emu_default_models(size_t *count)
{
	if (count)
		*count = BH_ARRAY_LEN(models);
	return models;
}

static const emu_default_model *find_exact(const char *id)
{
	for (size_t i = 0; i < BH_ARRAY_LEN(models); i++)
		if (strcmp(models[i].id, id) == 0)
			return &models[i];
	return NULL;
}

/* Strips a cross-region inference-profile prefix ("us.", "global." ...). */
static const char *strip_profile(const char *id)
{
	static const char *const prefixes[] = {"us.",     "eu.", "apac.", "global.",
	                                       "us-gov.", "jp.", "au.",   "ca."};
	for (size_t i = 0; i < BH_ARRAY_LEN(prefixes); i++)
		if (bh_starts_with(id, prefixes[i]))
			return id + strlen(prefixes[i]);
	return id;
}

/* ARNs (foundation-model/, inference-profile/ ...) end in "/<id>". */
const emu_default_model *emu_default_model_find(const char *model_id)
{
	if (!model_id || !*model_id)
		return NULL;
	if (bh_starts_with(model_id, "arn:")) {
		const char *slash = strrchr(model_id, '/');
		if (!slash)
			return NULL;
		model_id = slash + 1;
	}
	const emu_default_model *m = find_exact(model_id);
	return m ? m : find_exact(strip_profile(model_id));
}

emu_reasoner_params emu_default_model_params(const emu_default_model *m)
{
	emu_reasoner_params p = {.skill = m->skill,
	                         .native_json_schema = m->native_json_schema,
	                         .reflection = m->reflection,
	                         .model_id = m->id};
	return p;
}
