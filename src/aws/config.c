/*
 * config.c - the shared config and credentials files, read as the AWS CLI
 * (botocore) reads them.
 *
 * Both files are flattened into one list of entries: (section kind, section
 * name, which file, key, optional sub-key, value). A section header alone
 * also leaves an entry with no key, so that an empty profile still exists.
 * Lookups scan the whole list and keep the last match, which gives "later
 * duplicate keys win" and "later sections of the same name merge" for free;
 * the credentials file is searched before the config file. The files are
 * small (a few dozen lines), so a linear scan is the simplest correct thing.
 *
 * Syntax, as botocore and the SDKs' profile-file rules agree on it:
 *   [default] / [profile NAME] / [services NAME] / [sso-session NAME]
 *   key = value            key and value trimmed, key case kept
 *   parent =               an empty value opens nested sub-properties:
 *     sub = value          indented lines below it
 *   key = first            an indented line under a non-empty value
 *     second               continues it ("first\nsecond")
 *   # or ; at line start   a comment; inline only after whitespace
 */
#include "aws/config.h"
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

/* Largest config file we accept; real ones are a few kilobytes. */
#define CFG_MAX_FILE (4u << 20)

enum cfg_kind { CFG_PROFILE, CFG_SERVICES, CFG_SSO, CFG_IGNORED };

typedef struct cfg_entry {
	unsigned char kind; /* enum cfg_kind */
	bool from_creds;    /* from the credentials file */
	char *section;      /* profile, services or sso-session name */
	char *key;          /* NULL: only marks that the section exists */
	char *subkey;       /* nested sub-property, else NULL */
	char *value;
} cfg_entry;

struct bh_aws_config {
	char *profile;
	bool profile_from_arg; /* named by the caller, not the environment */
	cfg_entry *v;
	size_t n, cap;
};

/* Where the parser is inside one file. */
typedef struct cfg_parse {
	bh_aws_config *cfg;
	const char *path; /* for error messages */
	bool creds;       /* parsing the credentials file */
	int line;
	bool in_section;
	unsigned char kind;
	char *section;      /* borrowed from the last marker entry */
	long parent;        /* index of the last property entry, -1 none */
	bool parent_seen;   /* a property in this section (even ignored) */
	bool parent_nested; /* that property had an empty value */
} cfg_parse;

static void entry_release(cfg_entry *e)
{
	bh_free(e->section);
	bh_free(e->key);
	bh_free(e->subkey);
	bh_free(e->value);
}

void bh_aws_config_free(bh_aws_config *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->n; i++)
		entry_release(&c->v[i]);
	bh_free(c->v);
	bh_free(c->profile);
	bh_free(c);
}

/* Appends a copy of the strings; the only place entries are created, so
 * every allocation failure funnels through one check. */
static int cfg_add(bh_aws_config *c, unsigned char kind, bool from_creds, const char *section,
                   const char *key, const char *subkey, const char *value)
{
	if (c->n == c->cap) {
		size_t ncap = c->cap ? c->cap * 2 : 32;
		cfg_entry *nv = bh_realloc(c->v, ncap * sizeof(*nv));
		if (!nv)
			return BHIVE_ERR_NOMEM;
		c->v = nv;
		c->cap = ncap;
	}
	cfg_entry *e = &c->v[c->n];
	memset(e, 0, sizeof(*e));
	e->kind = kind;
	e->from_creds = from_creds;
	e->section = bh_strdup(section);
	e->key = bh_strdup(key);
	e->subkey = bh_strdup(subkey);
	e->value = bh_strdup(value);
	if (!e->section || (key && !e->key) || (subkey && !e->subkey) || (value && !e->value)) {
		entry_release(e);
		return BHIVE_ERR_NOMEM;
	}
	c->n++;
	return 0;
}

/* A syntax error names the file and line both in the message and in the
 * structured fields, so the CLI can point an editor at it. */
static int syntax_error(cfg_parse *p, bhive_error *err, const char *what)
{
	if (err && err->code == 0) {
		bh_error_set(err, BHIVE_ERR_CONFIG, "%s:%d: %s", p->path, p->line, what);
		bh_strlcpy(err->source, p->path, sizeof(err->source));
		err->line = p->line;
	}
	return BHIVE_ERR_CONFIG;
}

/* Cuts an inline comment: '#' or ';' counts only after whitespace, so
 * values such as "abc#def" or URLs with ';' survive. */
static void strip_inline_comment(char *s)
{
	for (char *q = s; *q; q++) {
		if ((*q == '#' || *q == ';') && q > s && (q[-1] == ' ' || q[-1] == '\t')) {
			*q = '\0';
			return;
		}
	}
}

/* "profile   x" -> "x" when s starts with word and whitespace, else NULL. */
static char *after_word(char *s, const char *word)
{
	size_t n = strlen(word);
	if (strncmp(s, word, n) != 0 || (s[n] != ' ' && s[n] != '\t'))
		return NULL;
	return bh_trim(s + n);
}

/* Decides what a section header names. In the config file a bare "[x]" is
 * ignored (botocore only reads "default" and "profile x" there); in the
 * credentials file every section is a profile. */
static unsigned char classify_section(bool creds, char *name, char **out)
{
	char *rest;
	*out = name;
	if (creds)
		return CFG_PROFILE;
	if (strcmp(name, "default") == 0)
		return CFG_PROFILE;
	if ((rest = after_word(name, "profile")) && *rest) {
		*out = rest;
		return CFG_PROFILE;
	}
	if ((rest = after_word(name, "services")) && *rest) {
		*out = rest;
		return CFG_SERVICES;
	}
	if ((rest = after_word(name, "sso-session")) && *rest) {
		*out = rest;
		return CFG_SSO;
	}
	return CFG_IGNORED;
}

static int parse_section(cfg_parse *p, char *t, bhive_error *err)
{
	char *close = strchr(t, ']');
	if (!close)
		return syntax_error(p, err, "section header without closing \"]\"");
	*close = '\0';
	char *name = bh_trim(t + 1);
	if (!*name)
		return syntax_error(p, err, "empty section name");
	char *sname;
	p->kind = classify_section(p->creds, name, &sname);
	p->in_section = true;
	p->parent = -1;
	p->parent_seen = false;
	p->section = NULL;
	if (p->kind == CFG_IGNORED) {
		BH_DEBUG("%s:%d: section \"%s\" ignored", p->path, p->line, name);
		return 0;
	}
	if (cfg_add(p->cfg, p->kind, p->creds, sname, NULL, NULL, NULL))
		return bh_error_set(err, BHIVE_ERR_NOMEM, "out of memory reading \"%s\"", p->path);
	p->section = p->cfg->v[p->cfg->n - 1].section;
	return 0;
}

/* Splits "key = value" in place; NULL key when there is no '=' or the key
 * is empty. */
static char *split_property(char *t, char **value)
{
	char *eq = strchr(t, '=');
	if (!eq)
		return NULL;
	*eq = '\0';
	char *key = bh_trim(t);
	strip_inline_comment(eq + 1);
	*value = bh_trim(eq + 1);
	return *key ? key : NULL;
}

static int parse_property(cfg_parse *p, char *t, bhive_error *err)
{
	char *value;
	char *key = split_property(t, &value);
	if (!key)
		return syntax_error(p, err, "expected \"key = value\"");
	if (!p->in_section)
		return syntax_error(p, err, "property outside any section");
	p->parent_seen = true;
	p->parent_nested = *value == '\0';
	p->parent = -1;
	if (p->kind == CFG_IGNORED)
		return 0;
	if (cfg_add(p->cfg, p->kind, p->creds, p->section, key, NULL, value))
		return bh_error_set(err, BHIVE_ERR_NOMEM, "out of memory reading \"%s\"", p->path);
	p->parent = (long)p->cfg->n - 1;
	return 0;
}

/* Appends "\n" + t to the value of the last property (a multi-line value). */
static int continue_value(cfg_parse *p, const char *t, bhive_error *err)
{
	cfg_entry *e = &p->cfg->v[p->parent];
	char *joined = bh_asprintf("%s\n%s", e->value, t);
	if (!joined)
		return bh_error_set(err, BHIVE_ERR_NOMEM, "out of memory reading \"%s\"", p->path);
	bh_free(e->value);
	e->value = joined;
	return 0;
}

/* An indented line: a sub-property of an empty-valued parent, or the
 * continuation of a non-empty value. */
static int parse_indented(cfg_parse *p, char *t, bhive_error *err)
{
	if (!p->in_section || !p->parent_seen)
		return syntax_error(p, err, "nested property with no parent");
	if (!p->parent_nested) {
		if (p->parent < 0)
			return 0;
		return continue_value(p, t, err);
	}
	char *value;
	char *key = split_property(t, &value);
	if (!key)
		return syntax_error(p, err, "expected \"key = value\" in nested property");
	if (p->parent < 0)
		return 0;
	cfg_entry *parent = &p->cfg->v[p->parent];
	const char *pkey = parent->key;
	if (cfg_add(p->cfg, p->kind, p->creds, p->section, pkey, key, value))
		return bh_error_set(err, BHIVE_ERR_NOMEM, "out of memory reading \"%s\"", p->path);
	return 0;
}

static int parse_line(cfg_parse *p, char *line, bhive_error *err)
{
	bool indented = line[0] == ' ' || line[0] == '\t';
	char *t = bh_trim(line);
	if (!*t || *t == '#' || *t == ';')
		return 0;
	if (indented && !(*t == '[' && !p->parent_seen))
		return parse_indented(p, t, err);
	if (*t == '[')
		return parse_section(p, t, err);
	return parse_property(p, t, err);
}

/* Parses one file's text into c. Lines end at '\n' (a '\r' before it is
 * whitespace and trimmed); an embedded NUL ends the line early. */
static int parse_text(bh_aws_config *c, const char *text, size_t len, const char *path, bool creds,
                      bhive_error *err)
{
	cfg_parse p = {.cfg = c, .path = path, .creds = creds, .parent = -1};
	size_t pos = 0;
	while (pos < len) {
		const char *nl = memchr(text + pos, '\n', len - pos);
		size_t n = nl ? (size_t)(nl - (text + pos)) : len - pos;
		char *line = bh_strndup(text + pos, n);
		if (!line)
			return bh_error_set(err, BHIVE_ERR_NOMEM, "out of memory reading \"%s\"",
			                    path);
		p.line++;
		int rc = parse_line(&p, line, err);
		bh_free(line);
		if (rc)
			return rc;
		pos += n + 1;
	}
	return 0;
}

/* "~/x" -> "$HOME/x"; anything else copied. */
static char *expand_home(const char *path)
{
	const char *home = bh_getenv("HOME");
	if (path[0] == '~' && (path[1] == '/' || path[1] == '\0') && home)
		return bh_asprintf("%s%s", home, path + 1);
	return bh_strdup(path);
}

/* The file's path: the environment variable, else ~/.aws/NAME. */
static char *file_path(const char *env, const char *name)
{
	const char *p = bh_getenv(env);
	if (p)
		return expand_home(p);
	const char *home = bh_getenv("HOME");
	if (!home)
		return NULL;
	return bh_asprintf("%s/.aws/%s", home, name);
}

/* Reads and parses one file; a file that does not exist counts as empty. */
static int load_file(bh_aws_config *c, const char *path, bool creds, bool *found, bhive_error *err)
{
	struct stat st;
	*found = false;
	if (!path || (stat(path, &st) != 0 && errno == ENOENT))
		return 0;
	size_t len = 0;
	bhive_error ioerr;
	bhive_error_clear(&ioerr);
	char *text = bh_read_file(path, CFG_MAX_FILE, &len, &ioerr);
	if (!text) {
		bh_error_set(err, BHIVE_ERR_CONFIG, "%s", ioerr.message);
		if (err)
			bh_strlcpy(err->source, path, sizeof(err->source));
		return BHIVE_ERR_CONFIG;
	}
	*found = true;
	int rc = parse_text(c, text, len, path, creds, err);
	bh_free(text);
	return rc;
}

/* The profile to use and whether the user named it (then it must exist). */
static const char *pick_profile(const char *profile, bool *explicit_)
{
	*explicit_ = true;
	if (profile && *profile)
		return profile;
	if ((profile = bh_getenv("AWS_PROFILE")) || (profile = bh_getenv("AWS_DEFAULT_PROFILE")))
		return profile;
	*explicit_ = false;
	return "default";
}

static bh_aws_config *config_new(const char *profile, bool *explicit_, bhive_error *err)
{
	bh_aws_config *c = bh_calloc(1, sizeof(*c));
	if (c)
		c->profile = bh_strdup(pick_profile(profile, explicit_));
	if (!c || !c->profile) {
		bh_aws_config_free(c);
		bh_error_set(err, BHIVE_ERR_NOMEM, "out of memory loading the aws config");
		return NULL;
	}
	return c;
}

/* The botocore ProfileNotFound rule: only a profile the user asked for by
 * name (argument or environment) must exist. */
static int check_profile(const bh_aws_config *c, bool explicit_, const char *cpath,
                         const char *kpath, bhive_error *err)
{
	if (!explicit_ || bh_aws_config_has_profile(c, c->profile))
		return 0;
	return bh_error_set(err, BHIVE_ERR_CONFIG, "profile \"%s\" not found in \"%s\" or \"%s\"",
	                    c->profile, cpath ? cpath : "~/.aws/config",
	                    kpath ? kpath : "~/.aws/credentials");
}

bh_aws_config *bh_aws_config_load(const char *profile, bhive_error *err)
{
	bool explicit_, found_c, found_k;
	bh_aws_config *c = config_new(profile, &explicit_, err);
	if (!c)
		return NULL;
	c->profile_from_arg = profile && *profile;
	char *cpath = file_path("AWS_CONFIG_FILE", "config");
	char *kpath = file_path("AWS_SHARED_CREDENTIALS_FILE", "credentials");
	int rc = load_file(c, cpath, false, &found_c, err);
	if (!rc)
		rc = load_file(c, kpath, true, &found_k, err);
	if (!rc)
		rc = check_profile(c, explicit_, cpath, kpath, err);
	BH_DEBUG("aws config: profile \"%s\", %zu entries", c->profile, c->n);
	bh_free(cpath);
	bh_free(kpath);
	if (rc) {
		bh_aws_config_free(c);
		return NULL;
	}
	return c;
}

bh_aws_config *bh_aws_config_from_text(const char *config_text, size_t config_len,
                                       const char *creds_text, size_t creds_len,
                                       const char *profile, bhive_error *err)
{
	bool explicit_;
	bh_aws_config *c = config_new(profile, &explicit_, err);
	if (!c)
		return NULL;
	c->profile_from_arg = profile && *profile;
	int rc = 0;
	if (config_text)
		rc = parse_text(c, config_text, config_len, "config", false, err);
	if (!rc && creds_text)
		rc = parse_text(c, creds_text, creds_len, "credentials", true, err);
	if (!rc)
		rc = check_profile(c, explicit_, "config", "credentials", err);
	if (rc) {
		bh_aws_config_free(c);
		return NULL;
	}
	return c;
}

const char *bh_aws_config_profile(const bh_aws_config *c)
{
	return c ? c->profile : "default";
}

/* Last match of (kind, section, key, subkey) in one file. Keys compare
 * without case, as botocore lowercases every key it reads. */
static const char *find(const bh_aws_config *c, unsigned char kind, bool creds, const char *section,
                        const char *key, const char *subkey)
{
	const char *found = NULL;
	for (size_t i = 0; i < c->n; i++) {
		const cfg_entry *e = &c->v[i];
		if (e->kind != kind || e->from_creds != creds || !e->key)
			continue;
		if (!bh_streq(e->section, section) || !bh_strcaseeq(e->key, key))
			continue;
		if (subkey ? bh_strcaseeq(e->subkey, subkey) : !e->subkey)
			found = e->value;
	}
	return found;
}

const char *bh_aws_config_get_in(const bh_aws_config *c, const char *profile, const char *key)
{
	if (!c || !profile || !key)
		return NULL;
	const char *v = find(c, CFG_PROFILE, true, profile, key, NULL);
	return v ? v : find(c, CFG_PROFILE, false, profile, key, NULL);
}

const char *bh_aws_config_get_file(const bh_aws_config *c, const char *profile, const char *key,
                                   bool credentials_file)
{
	if (!c || !profile || !key)
		return NULL;
	return find(c, CFG_PROFILE, credentials_file, profile, key, NULL);
}

const char *bh_aws_config_get(const bh_aws_config *c, const char *key)
{
	return c ? bh_aws_config_get_in(c, c->profile, key) : NULL;
}

const char *bh_aws_config_get_sub(const bh_aws_config *c, const char *profile, const char *key,
                                  const char *subkey)
{
	if (!c || !profile || !key || !subkey)
		return NULL;
	const char *v = find(c, CFG_PROFILE, true, profile, key, subkey);
	return v ? v : find(c, CFG_PROFILE, false, profile, key, subkey);
}

int bh_aws_config_profile_from_arg(const bh_aws_config *c)
{
	return c && c->profile_from_arg;
}

int bh_aws_config_has_profile(const bh_aws_config *c, const char *profile)
{
	if (!c || !profile)
		return 0;
	for (size_t i = 0; i < c->n; i++)
		if (c->v[i].kind == CFG_PROFILE && bh_streq(c->v[i].section, profile))
			return 1;
	return 0;
}

const char *bh_aws_config_service_get(const bh_aws_config *c, const char *services_name,
                                      const char *service_key, const char *key)
{
	if (!c || !services_name || !service_key || !key)
		return NULL;
	return find(c, CFG_SERVICES, false, services_name, service_key, key);
}

const char *bh_aws_config_sso_session_get(const bh_aws_config *c, const char *session,
                                          const char *key)
{
	if (!c || !session || !key)
		return NULL;
	return find(c, CFG_SSO, false, session, key, NULL);
}
