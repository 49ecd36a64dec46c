/*
 * engine.c - bhive_hive: many conversations on one client loop.
 *
 * Conversations wait in a queue until there is room under the running limit
 * (so a benchmark of thousands keeps memory and open requests bounded), run
 * as state machines driven by the client's callbacks (engine_conv.c), and
 * land on a done list that bhive_hive_next_done() pulls from in the order
 * they finished, like curl_multi_info_read().
 */
#include "hive/hive_int.h"

bhive_hive *bhive_hive_new(bhive_client *client, bhive_error *err)
{
	bhive_error_clear(err);
	if (!client) {
		bh_error_set(err, BHIVE_ERR_INVALID, "a hive needs a client");
		return NULL;
	}
	bhive_hive *h = bh_calloc(1, sizeof(*h));
	if (!h) {
		bh_error_set(err, BHIVE_ERR_NOMEM, "out of memory");
		return NULL;
	}
	h->client = client;
	return h;
}

static void free_list(bh_conv *c)
{
	while (c) {
		bh_conv *next = c->next;
		bh_conv_free(c);
		c = next;
	}
}

void bhive_hive_free(bhive_hive *h)
{
	if (!h)
		return;
	if (h->calls)
		bh_hive_cancel_calls(h);
	free_list(h->queue_head);
	free_list(h->running_list);
	free_list(h->done_head);
	bh_free(h);
}

void bhive_hive_set_max_running(bhive_hive *h, int n)
{
	if (h)
		h->max_running = n > 0 ? n : 0;
}

void bhive_hive_set_progress(bhive_hive *h, bhive_progress_fn fn, void *ud)
{
	if (!h)
		return;
	h->progress = fn;
	h->progress_ud = ud;
}

int bhive_hive_pending(const bhive_hive *h)
{
	return h ? h->pending : 0;
}

static int has_room(const bhive_hive *h)
{
	return h->max_running == 0 || h->running < h->max_running;
}

/* Starts queued conversations while there is room. */
static void start_queued(bhive_hive *h)
{
	/* A conversation that fails at once finishes inside bh_conv_start and
	 * calls back here: the outer loop carries on instead of recursing. */
	if (h->starting)
		return;
	h->starting = 1;
	while (h->queue_head && has_room(h)) {
		bh_conv *c = h->queue_head;
		h->queue_head = c->next;
		if (!h->queue_head)
			h->queue_tail = NULL;
		c->next = h->running_list;
		h->running_list = c;
		h->running++;
		bh_conv_start(c);
	}
	h->starting = 0;
}

/* Unlinks c from the running list. */
static void unlink_running(bhive_hive *h, bh_conv *c)
{
	for (bh_conv **p = &h->running_list; *p; p = &(*p)->next) {
		if (*p == c) {
			*p = c->next;
			c->next = NULL;
			return;
		}
	}
}

void bh_hive_finished(bhive_hive *h, bh_conv *c)
{
	unlink_running(h, c);
	h->running--;
	h->pending--;
	if (h->done_tail)
		h->done_tail->next = c;
	else
		h->done_head = c;
	h->done_tail = c;
	start_queued(h);
}

unsigned long bhive_hive_add(bhive_hive *h, const bhive_config *cfg, const json_t *request,
                             void *user_data, bhive_error *err)
{
	bhive_error_clear(err);
	if (!h || !cfg) {
		bh_error_set(err, BHIVE_ERR_INVALID, "a hive and a config are needed");
		return 0;
	}
	if (bhive_config_validate(cfg, NULL, NULL, err))
		return 0;
	bh_conv *c = bh_conv_new(h, cfg, request, err);
	if (!c)
		return 0;
	c->id = ++h->next_id;
	c->user_data = user_data;
	if (h->queue_tail)
		h->queue_tail->next = c;
	else
		h->queue_head = c;
	h->queue_tail = c;
	h->pending++;
	start_queued(h);
	return c->id;
}

int bhive_hive_perform(bhive_hive *h, long timeout_ms)
{
	if (!h)
		return -1;
	int64_t deadline = timeout_ms < 0 ? 0 : bh_now_ms() + timeout_ms;
	while (h->pending > 0) {
		long left = -1;
		if (timeout_ms >= 0 && (left = (long)(deadline - bh_now_ms())) < 0)
			left = 0;
		int n = bhive_client_run(h->client, left);
		if (n < 0)
			return -1;
		/* Nothing in flight yet work pending would be a hang: say so. */
		if (n == 0 && h->pending > 0 && bhive_client_pending(h->client) == 0) {
			BH_ERROR("hive: %d conversations pending with no call in flight",
			         h->pending);
			return -1;
		}
		if (timeout_ms >= 0 && bh_now_ms() >= deadline)
			break;
	}
	return h->pending;
}

bhive_result *bhive_hive_next_done(bhive_hive *h, unsigned long *id, void **user_data)
{
	if (!h || !h->done_head)
		return NULL;
	bh_conv *c = h->done_head;
	h->done_head = c->next;
	if (!h->done_head)
		h->done_tail = NULL;
	bhive_result *r = c->res;
	c->res = NULL;
	if (id)
		*id = c->id;
	if (user_data)
		*user_data = c->user_data;
	bh_conv_free(c);
	return r;
}

bhive_result *bhive_hive_converse(bhive_client *client, const bhive_config *cfg,
                                  const json_t *request, bhive_result **failed_out,
                                  bhive_error *err)
{
	if (failed_out)
		*failed_out = NULL;
	bhive_hive *h = bhive_hive_new(client, err);
	if (!h || !bhive_hive_add(h, cfg, request, NULL, err)) {
		bhive_hive_free(h);
		return NULL;
	}
	if (bhive_hive_perform(h, -1) < 0)
		bh_error_set(err, BHIVE_ERR_NETWORK, "the client loop failed");
	bhive_result *r = bhive_hive_next_done(h, NULL, NULL);
	bhive_hive_free(h);
	if (r && !r->err.code)
		return r;
	if (r)
		bh_error_copy(err, &r->err);
	if (failed_out)
		*failed_out = r;
	else
		bhive_result_free(r);
	return NULL;
}
