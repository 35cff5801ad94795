/* http.h — the HTTP server (libmicrohttpd, thread pool): routing through the one table in
 * routes.c and authentication of every non-public route, both decided from the request line
 * and headers before any body is read (a stranger's body is never buffered; a chunked one is
 * read and counted only, to tell whether it is over the cap); request bodies
 * accumulated up to the cap (413 beyond it, decided from Content-Length before anything else;
 * HTTP_PUBLIC_MAX_BODY for public routes), JSON replies and errors, static files of the web
 * admin from web/, and handlers' delays (a suspended connection, not a sleeping thread).
 * Handlers never write to the socket themselves. */
#ifndef DHIS2SYNC_HTTP_H
#define DHIS2SYNC_HTTP_H

#include <cJSON.h>
#include <stdbool.h>
#include <stddef.h>

#include "err.h"

struct app;
struct MHD_Connection;

#define HTTP_MAX_PARAMS 4
/* The body cap of public routes: logging in needs a name and a password, no more. */
#define HTTP_PUBLIC_MAX_BODY 4096

struct http_req {
    struct MHD_Connection *conn;
    const char *method;
    const char *path;           /* decoded by MHD (static files, messages); routes match the
                                 * path as sent, so that a name's %2F stays inside its {} */
    const char *body;           /* NUL-terminated; "" when there is none */
    size_t body_len;
    char params[HTTP_MAX_PARAMS][256]; /* the {} segments of the route pattern, decoded */
    int n_params;
    bool secure;                /* came over TLS or X-Forwarded-Proto: https */
    /* who is calling, set by authentication */
    long long user_id;          /* 0 for an API token */
    long long token_id;         /* 0 for a session */
    char csrf_token[80];        /* the session's, for GET /api/session */
    bool delayed;               /* this call comes after the delay the handler asked for */
};

struct http_resp {
    int status;
    char *body;                 /* malloc-ed; the server frees it */
    size_t len;
    const char *content_type;
    char *extra_headers[8];     /* "Name: value", malloc-ed */
    int n_extra;
    /* Set by a handler instead of an answer (and nothing else): call it again with the same
     * request, rq->delayed set, after this many milliseconds. No thread waits meanwhile. */
    long delay_ms;
};

typedef void (*http_handler)(struct app *app, struct http_req *rq, struct http_resp *rs);

enum route_auth { ROUTE_PUBLIC, ROUTE_AUTH };

struct route {
    const char *method;
    const char *pattern;        /* "/api/jobs/{}/run": {} matches one path segment */
    http_handler handler;
    enum route_auth auth;
};

/* routes.c: the whole table, ending with a {NULL} entry. */
extern const struct route http_routes[];

struct http_server;
int http_start(struct http_server **out, struct app *app, struct err *e);
/* Stops accepting, lets requests in flight finish, frees the server. */
void http_stop(struct http_server *s);

/* The peer's address as text, and whether the peer is a reverse proxy we believe
 * (loopback, or listed in DHIS2SYNC_TRUSTED_PROXIES): only then do X-Forwarded-For and
 * X-Forwarded-Proto count, since anyone else could send them. */
void http_peer_address(const struct http_req *rq, char *out, size_t size);
bool http_from_trusted_proxy(const struct app *app, const struct http_req *rq);

/* Request helpers. */
const char *http_query(const struct http_req *rq, const char *name);
const char *http_header(const struct http_req *rq, const char *name);
/* Parses the body as a JSON object; on failure answers 400 and returns NULL. */
cJSON *http_body_json(const struct http_req *rq, struct http_resp *rs);

/* Reply helpers: each sets the whole response. json is consumed. */
void http_reply_json(struct http_resp *rs, int status, cJSON *json);
void http_reply_error(struct http_resp *rs, int status, cJSON *detail, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Maps an err code to its HTTP status and replies with e->msg. */
void http_reply_err(struct http_resp *rs, const struct err *e);
void http_add_header(struct http_resp *rs, const char *name, const char *value);
/* 200 with the whole file, typed by its extension; -1 (rs untouched) if it cannot be read. */
int http_reply_file(struct http_resp *rs, const char *file);
/* A regular file, whole and NUL-terminated (*out malloc'ed): 0, or -1 (absent, unreadable). */
int http_read_file(const char *path, char **out, size_t *len);
/* A reply whose JSON text was made elsewhere (by PostgreSQL's json functions); copied. */
void http_reply_json_text(struct http_resp *rs, int status, const char *json);

/* ?page= and ?pageSize= (1-based; pageSize 1..1000, default 50). On bad input answers 400 and
 * returns -1. */
int http_paging(const struct http_req *rq, struct http_resp *rs, long *page, long *page_size);

#endif
