/*
 * reflect.c - the smallest complete use of libbhive: one model, three rounds
 * of self-reflection with the built-in arithmetic verifier, then the answer,
 * the calls made and what they cost.
 *
 *   AWS_ENDPOINT_URL_BEDROCK_RUNTIME=http://127.0.0.1:PORT AWS_REGION=us-east-1 \
 *       example_reflect "What is the result of 12+34*56+78-90*12? ..."
 */
#include <stdio.h>
#include <bhive.h>

int main(int argc, char **argv)
{
	const char *question = argc > 1 ? argv[1] : "What is 2 + 2?";
	bhive_error err;
	bhive_client_options opts;
	bhive_client_options_init(&opts); /* region, credentials, endpoint: as the AWS CLI */
	bhive_client *client = bhive_client_new(&opts, &err);
	if (!client) {
		fprintf(stderr, "error: %s\n", err.message);
		return 1;
	}
	bhive_config *cfg = bhive_config_new();
	bhive_config_add_model(cfg, "anthropic.claude-3-sonnet-20240229-v1:0");
	bhive_config_set_reflections(cfg, 3);
	bhive_config_set_verifier(cfg, bhive_verifier_arithmetic, NULL);

	json_t *request = json_pack("{s:[{s:s, s:[{s:s}]}]}", "messages", "role", "user", "content",
	                            "text", question);
	bhive_result *r = bhive_hive_converse(client, cfg, request, NULL, &err);
	int rc = 0;
	if (r) {
		printf("%s\n", bhive_result_answer(r));
		fprintf(stderr, "%d calls, %d rounds, $%.6f, %.0f ms\n", bhive_result_calls(r),
		        bhive_result_rounds(r), bhive_result_cost_usd(r), bhive_result_wall_ms(r));
	} else {
		fprintf(stderr, "error: %s\n", err.message);
		rc = 1;
	}
	bhive_result_free(r);
	json_decref(request);
	bhive_config_free(cfg);
	bhive_client_free(client);
	return rc;
}
