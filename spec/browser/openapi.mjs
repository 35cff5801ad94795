// The OpenAPI document against the server it describes (run by spec/web_test.c), from the
// environment: OPENAPI_DOC, DHIS2SYNC_URL, DHIS2SYNC_TOKEN, DHIS2SYNC_PASSWORD (admin's),
// SOURCE_URL and TARGET_URL (two DHIS2 emulators, the source with data).
// 1. DOC is a valid OpenAPI 3.1 document (@seriousme/openapi-schema-validator) and is what
//    the server serves at /api/openapi.json;
// 2. every operation in it is called, in an order that makes the ids it needs, and answers
//    (a route the server does not have would be 404 "no such API route" or 405);
// 3. every answer's status is documented for its operation, and its JSON body validates
//    against the documented schema (ajv, JSON Schema 2020-12, as OpenAPI 3.1 uses).
// Prints one line per operation; exits 1 on the first failure with what differed.
import { readFileSync } from "node:fs";
import { Validator } from "@seriousme/openapi-schema-validator";
import Ajv2020 from "ajv/dist/2020.js";
import addFormats from "ajv-formats";

const { OPENAPI_DOC: docPath, DHIS2SYNC_URL: base, DHIS2SYNC_TOKEN: token,
  DHIS2SYNC_PASSWORD: adminPassword, SOURCE_URL: sourceUrl, TARGET_URL: targetUrl } = process.env;
const doc = JSON.parse(readFileSync(docPath, "utf8"));
const fail = (msg) => { console.error("FAIL " + msg); process.exit(1); };

const verdict = await new Validator().validate(structuredClone(doc));
if (!verdict.valid) fail("the document is not valid OpenAPI 3.1: " + JSON.stringify(verdict.errors, null, 1));
console.log("ok   the document validates as OpenAPI " + doc.openapi);

// component schemas as one JSON Schema, so that responses' $refs resolve
const rewrite = (v) => JSON.parse(JSON.stringify(v).replaceAll('"#/components/schemas/', '"doc#/$defs/'));
const ajv = new Ajv2020({ strict: false, allErrors: true });
addFormats(ajv);
ajv.addSchema({ $id: "doc", $defs: rewrite(doc.components.schemas) });

const started = Date.now();
const done = new Set();
let cookie = "", csrf = "";
async function call(opId, path, { method, body, contentType = "application/json", accept, session, expect, headers: extra } = {}) {
  const [template, item] = Object.entries(doc.paths).find(([, it]) =>
    Object.entries(it).some(([m, o]) => typeof o === "object" && o.operationId === opId)) || [];
  if (!template) fail(`${opId}: no such operation in the document`);
  const [docMethod, operation] = Object.entries(item).find(([, o]) => o.operationId === opId);
  method = method || docMethod.toUpperCase();
  const headers = {};
  if (session) { headers.Cookie = cookie; if (method !== "GET") headers["X-CSRF-Token"] = csrf; }
  else if (!operation.security || operation.security.length) headers.Authorization = "Bearer " + token;
  if (body !== undefined) headers["Content-Type"] = contentType;
  if (accept) headers.Accept = accept;
  Object.assign(headers, extra);
  const res = await fetch(base + path, { method, headers,
    body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body) });
  const text = await res.text();
  const where = `${opId} (${method} ${path}) answered ${res.status}`;
  if (res.status === 405 || (res.status === 404 && text.includes("no such API route")))
    fail(`${where}: the server has no such route: ${text}`);
  if (expect && res.status !== expect) fail(`${where}, expected ${expect}: ${text}`);
  const documented = operation.responses[String(res.status)] || operation.responses.default ||
    (doc.components.responses[(operation.responses[String(res.status)] || {}).$ref] ?? null);
  let response = documented;
  if (response && response.$ref) response = doc.components.responses[response.$ref.split("/").pop()];
  if (!response) fail(`${where}, which the document does not list for it: ${text}`);
  const type = (res.headers.get("content-type") || "").split(";")[0];
  const media = response.content && response.content[type];
  let json = null;
  if (type === "application/json" && method !== "HEAD" && res.status !== 204) {
    json = JSON.parse(text);
    if (!media) fail(`${where} with JSON the document does not describe`);
    const validate = ajv.compile(rewrite(media.schema));
    if (!validate(json)) fail(`${where}: the body does not match its schema: ` +
      JSON.stringify(validate.errors, null, 1) + "\nbody: " + text.slice(0, 2000));
  }
  done.add(opId);
  console.log(`ok   ${opId} ${method} ${path} ${res.status} (${Date.now() - started} ms)`);
  return { status: res.status, json, text, headers: res.headers };
}

await call("getHealth", "/health", { expect: 200 });
await call("headHealth", "/health", { expect: 200 });
await call("getHealthSlash", "/health/", { expect: 200 });
await call("headHealthSlash", "/health/", { expect: 200 });
const served = await call("getOpenApi", "/api/openapi.json", { expect: 200 });
if (JSON.stringify(served.json) !== JSON.stringify(doc)) fail("/api/openapi.json is not the document");
const index = await call("getApiIndex", "/api/", { expect: 200 });
for (const link of Object.values(index.json.links)) {
  const r = await fetch(base + link, { headers: { Authorization: "Bearer " + token } });
  if (r.status !== 200) fail(`GET /api/ links to ${link}, which answers ${r.status}`);
}
await call("getMetrics", "/metrics", { expect: 200 });

const login = await call("createSession", "/api/session", { body: { username: "admin", password: adminPassword }, expect: 200 });
cookie = (login.headers.get("set-cookie") || "").split(";")[0];
csrf = login.json.csrfToken;
await call("getSession", "/api/session", { session: true, expect: 200 });

const basic = (url) => ({ url, auth: { type: "basic", username: "admin", password: "district" } });
const src = (await call("createInstance", "/api/instances", { body: { name: "oa source", ...basic(sourceUrl) }, expect: 201 })).json;
const dst = (await call("createInstance", "/api/instances", { body: { name: "oa/target", ...basic(targetUrl) }, expect: 201 })).json;
await call("listInstances", "/api/instances?page=1&pageSize=10", { expect: 200 });
await call("getInstance", "/api/instances/" + encodeURIComponent(src.name), { expect: 200 });
await call("patchInstance", `/api/instances/${dst.id}`, { body: { name: "oa target" }, expect: 200 });
await call("putInstance", `/api/instances/${dst.id}`, { body: { caFile: null }, expect: 200 });
await call("testInstance", `/api/instances/${src.id}/test`, { expect: 200 });
const dataSets = (await call("listInstanceMetadata", `/api/instances/${src.id}/metadata/dataSets`, { expect: 200 })).json.dataSets;
const roots = (await call("listInstanceMetadata", `/api/instances/${src.id}/metadata/organisationUnits?filter=level:eq:1`, { expect: 200 })).json.organisationUnits;

const job = (await call("createJob", "/api/jobs", { expect: 201, body: {
  name: "oa job", source: src.id, target: dst.id, dataSets: dataSets.map((d) => d.id),
  orgUnits: [roots[0].id], children: true, periods: { start: "1900-01-01", end: "2100-12-31" } } })).json;
await call("listJobs", "/api/jobs", { expect: 200 });
await call("getJob", "/api/jobs/" + encodeURIComponent(job.name), { expect: 200 });
await call("patchJob", `/api/jobs/${job.id}`, { body: { enabled: false }, expect: 200 });
await call("putJob", `/api/jobs/${job.id}`, { body: { enabled: true }, expect: 200 });
const run = (await call("runJob", `/api/jobs/${job.id}/run?dryRun=false`, { expect: 202 })).json;
// read at least once: a small run may be over before the answer to runJob is written
let state = (await call("getRun", `/api/runs/${run.id}`, { expect: 200 })).json;
for (let i = 0; i < 300 && ["queued", "running"].includes(state.status); i++) {
  await new Promise((r) => setTimeout(r, 100));
  state = (await call("getRun", `/api/runs/${run.id}`, { expect: 200 })).json;
}
if (state.status !== "succeeded") fail("the run did not succeed: " + JSON.stringify(state));
await call("listRuns", `/api/runs?job=${job.id}&status=succeeded`, { expect: 200 });
await call("listRunConflicts", `/api/runs/${run.id}/conflicts?kind=conflict`, { expect: 200 });
const csv = await call("listRunConflicts", `/api/runs/${run.id}/conflicts?format=csv`, { expect: 200 });
if (!csv.text.startsWith("kind,errorCode,")) fail("the conflicts CSV has no header row: " + csv.text.slice(0, 200));
await call("listRunConflictGroups", `/api/runs/${run.id}/conflicts/groups`, { expect: 200 });
await call("checkJob", `/api/jobs/${job.id}/check`, { expect: 200 });
await call("checkNewJob", "/api/jobs/check", { expect: 200, body: {
  name: "oa check", source: src.id, target: dst.id, dataSets: dataSets.map((d) => d.id),
  orgUnits: [roots[0].id], periods: { last: 12, type: "Monthly" } } });
await call("cancelRun", `/api/runs/${run.id}/cancel`, { expect: 409 });

await call("getJobSample", `/api/jobs/${job.id}/sample?n=5`, { expect: 200 });
await call("describeSchedule", "/api/schedule?cron=" + encodeURIComponent("0 2 * * *"), { expect: 200 });
await call("getMappingReference", "/docs/mappings.md", { expect: 200 });
await call("listMappings", "/api/mappings", { expect: 200 });
await call("putMapping", "/api/mappings/oa_check", { body: "return { dataElements = { a = 'b' } }\n", contentType: "text/x-lua" });
const read = await call("getMapping", "/api/mappings/oa_check", { accept: "application/json", expect: 200 });
await call("putMapping", "/api/mappings/oa_check", { body: "return {}\n", contentType: "text/x-lua",
  headers: { "If-Match": '"stale"' }, expect: 412 });
await call("putMapping", "/api/mappings/oa_check", { body: "return {}\n", contentType: "text/x-lua",
  headers: { "If-Match": read.headers.get("etag") }, expect: 200 });
await call("checkMapping", "/api/mappings/oa_check/check", { expect: 200, body: { dataValues: [
  { dataElement: "a", period: "202401", orgUnit: "o", categoryOptionCombo: "c", attributeOptionCombo: "x", value: "1" }] } });
await call("checkMapping", "/api/mappings/oa_check/check", { expect: 200, body: {
  source: "return { event = function(ev) if ev.status == 'SCHEDULE' then error('no') end return ev end }\n",
  events: [{ event: "ZwwuwNp6gVd", status: "ACTIVE", dataValues: [] }, { event: "a1B2c3D4e5F", status: "SCHEDULE" }],
  metadata: { dataElements: [{ id: "fbfJHSPpUQD", name: "ANC" }] } } });

const made = (await call("createToken", "/api/tokens", { body: { name: "oa token", expires: "1d" }, expect: 201 })).json;
await call("listTokens", "/api/tokens?page=1&pageSize=10", { expect: 200 });
await call("deleteToken", `/api/tokens/${made.id}`, { expect: 204 });

const user = (await call("createUser", "/api/users", { body: { name: "oa user", password: "oa-user-password" }, expect: 201 })).json;
await call("listUsers", "/api/users?page=1&pageSize=10", { expect: 200 });
await call("patchUser", `/api/users/${user.id}`, { body: { enabled: false }, expect: 200 });
await call("changeMyPassword", "/api/users/me/password", { session: true,
  body: { oldPassword: adminPassword, newPassword: "oa-new-admin-password" }, expect: 204 });
await call("deleteUser", "/api/users/" + encodeURIComponent(user.name), { expect: 204 });

await call("deleteJob", `/api/jobs/${job.id}`, { expect: 204 });
await call("deleteInstance", `/api/instances/${dst.id}`, { expect: 204 });
await call("deleteSession", "/api/session", { session: true, expect: 204 });

const missing = Object.values(doc.paths).flatMap((item) => Object.values(item))
  .filter((o) => typeof o === "object" && o.operationId && !done.has(o.operationId)).map((o) => o.operationId);
if (missing.length) fail("operations the check never called (add them to spec/browser/openapi.mjs): " + missing.join(", "));
console.log(`ok   all ${done.size} operations answered as documented`);
// fetch keeps idle connections to the server open for a minute: do not wait for them
process.exit(0);
