/* system.c — /api/system/info, /api/system/ping and /api/me. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "emu.h"

static int send_buf(struct request *r, struct buf *b)
{
    size_t len = b->len;
    char *text = buf_take(b);
    if (!text)
        return http_webmessage(r, 500, "ERROR", "Out of memory", NULL);
    return http_send(r, 200, "application/json;charset=UTF-8", text, len);
}

static int system_info(struct request *r)
{
    struct emu *emu = r->emu;
    const char *host = req_header(r, "Host");
    char base[300];
    snprintf(base, sizeof base, "http://%s", host ? host : "localhost");
    struct buf b = {0};
    buf_puts(&b, "{\"contextPath\":");
    buf_json_str(&b, base);
    buf_puts(&b, ",\"userAgent\":");
    buf_json_str(&b, req_header(r, "User-Agent"));
    buf_puts(&b, ",\"calendar\":\"iso8601\",\"dateFormat\":\"yyyy-mm-dd\",\"serverDate\":\"");
    buf_timestamp(&b, now_ms(), false);
    buf_puts(&b, "\",\"serverTimeZoneId\":");
    buf_json_str(&b, emu->cfg.timezone);
    buf_puts(&b, ",\"serverTimeZoneDisplayName\":");
    buf_json_str(&b, strcmp(emu->cfg.timezone, "Etc/UTC") ? emu->cfg.timezone : "Coordinated Universal Time");
    buf_puts(&b, ",\"version\":");
    buf_json_str(&b, emu->cfg.version);
    buf_puts(&b, ",\"revision\":\"e1m2u3l\",\"buildTime\":\"2024-11-01T10:00:00.000\","
                 "\"jasperReportsVersion\":\"6.20.6\",\"environmentVariable\":\"DHIS2_HOME\","
                 "\"readOnlyMode\":\"off\",\"javaVersion\":\"17.0.12\",\"osName\":\"Linux\","
                 "\"cpuCores\":2,\"encryption\":false,\"emailConfigured\":false,"
                 "\"redisEnabled\":false,\"systemId\":");
    buf_json_str(&b, emu->system_id);
    buf_puts(&b, ",\"systemName\":\"DHIS 2 Emulator\",\"instanceBaseUrl\":");
    buf_json_str(&b, base);
    buf_puts(&b, ",\"isMetadataVersionEnabled\":true,\"metadataSyncEnabled\":false}");
    return send_buf(r, &b);
}

static int me(struct request *r)
{
    struct emu *emu = r->emu;
    struct buf b = {0};
    buf_puts(&b, "{\"id\":\"M5zQapPyTZI\",\"username\":");
    buf_json_str(&b, emu->cfg.user);
    buf_puts(&b, ",\"surname\":\"Admin\",\"firstName\":\"Emulator\",\"name\":\"Emulator Admin\","
                 "\"displayName\":\"Emulator Admin\",\"userCredentials\":{\"username\":");
    buf_json_str(&b, emu->cfg.user);
    buf_puts(&b, "},\"authorities\":[\"ALL\"],\"organisationUnits\":[");
    pthread_rwlock_rdlock(&emu->st.lock); /* metadata imports rebuild the org units */
    if (emu->md.root_ou >= 0) {
        buf_puts(&b, "{\"id\":");
        buf_json_str(&b, emu->md.ou[emu->md.root_ou].id.uid);
        buf_putc(&b, '}');
    }
    pthread_rwlock_unlock(&emu->st.lock);
    buf_puts(&b, "],\"dataViewOrganisationUnits\":[],\"teiSearchOrganisationUnits\":[]}");
    return send_buf(r, &b);
}

int api_system(struct request *r)
{
    if (!strcmp(r->path, "system/info"))
        return system_info(r);
    if (!strcmp(r->path, "system/ping")) {
        char *pong = strdup("pong");
        return pong ? http_send(r, 200, "text/plain", pong, 4) : 0; /* MHD_NO: out of memory closes the connection */
    }
    return me(r);
}
