/* http.h — what handlers that build their own libmicrohttpd responses (streams, headers)
 * need beyond emu.h's helpers. */
#ifndef DHIS2SYNC_EMU_HTTP_H
#define DHIS2SYNC_EMU_HTTP_H

#include <microhttpd.h>

#include "emu.h"

/* Queues resp (and releases it); adds the headers DHIS2 sends on every answer. */
int http_queue(struct request *r, int status, struct MHD_Response *resp);
/* Like http_send, with an optional Location header. */
int http_send_with(struct request *r, int status, const char *content_type, char *body, size_t len,
                   const char *location);
/* Writes {"httpStatus":..,"httpStatusCode":..,"status":..,"message":.. with no closing brace. */
void webmessage_head(struct buf *b, int status, const char *wm_status, const char *message);
struct MHD_Daemon *http_start(struct emu *emu, struct err *e);
/* Releases hung requests, stops accepting, finishes in-flight requests, stops. */
void http_stop(struct MHD_Daemon *d);
/* faults.c: /emulator/faults and /emulator/state. */
int emulator_admin(struct request *r);

#endif
