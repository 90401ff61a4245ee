// transport-http in process, with the real core extensions around it: the events open/close/delete emit for the
// WebSocket transport, and an OpenAPI document that covers every route the server answers.
import { assert, assertEquals } from "../../tests/assert.ts";
import { stall, startFakeProvider, text } from "../../tests/fake_provider.ts";
import { ExtensionHost, type LogRecord } from "../../src/kernel/mod.ts";
import { manifest as storageManifest } from "../storage-sqlite/manifest.ts";
import { createStorageSqlite } from "../storage-sqlite/mod.ts";
import { manifest as authManifest } from "../auth-apikey/manifest.ts";
import { createAuthApiKey } from "../auth-apikey/mod.ts";
import { manifest as credentialManifest } from "../credential-store/manifest.ts";
import * as credentialStore from "../credential-store/mod.ts";
import { manifest as providerManifest } from "../provider-openai-compat/manifest.ts";
import * as provider from "../provider-openai-compat/mod.ts";
import { manifest as conversationManifest } from "../conversation-store/manifest.ts";
import * as conversationStore from "../conversation-store/mod.ts";
import { manifest as orchestratorManifest } from "../session-orchestrator/manifest.ts";
import * as orchestrator from "../session-orchestrator/mod.ts";
import { ConversationOpen, ConversationStatusChanged } from "../session-orchestrator/api.ts";
import { manifest as throughputManifest } from "../throughput-store/manifest.ts";
import * as throughput from "../throughput-store/mod.ts";
import { manifest } from "./manifest.ts";
import { createTransportHttp } from "./mod.ts";
import { HttpServerKey } from "./api.ts";
import { pathRegex } from "./server.ts";

async function boot() {
  const fake = await startFakeProvider();
  const dataDir = await Deno.makeTempDir({ prefix: "dispatch-http-inproc-" });
  const logs: LogRecord[] = [];
  const host = new ExtensionHost({
    sink: { write: (r) => void logs.push(r) },
    config: { DISPATCH_WORKSPACE_ROOTS: "/tmp" },
  });
  await host.boot([
    { manifest: storageManifest, ...createStorageSqlite(dataDir) },
    {
      manifest: authManifest,
      ...createAuthApiKey({
        DISPATCH_API_KEY: "sk-inproc",
        DISPATCH_BASE_URL: fake.baseUrl,
        DISPATCH_MODEL: "fake-model",
      }),
    },
    { manifest: credentialManifest, activate: credentialStore.activate },
    { manifest: providerManifest, activate: provider.activate },
    { manifest: conversationManifest, activate: conversationStore.activate },
    { manifest: orchestratorManifest, activate: orchestrator.activate },
    { manifest, ...createTransportHttp({ hostname: "127.0.0.1", port: 0, allowedOrigins: ["loopback"] }) },
    { manifest: throughputManifest, activate: throughput.activate },
  ]);
  for (const ext of host.list()) assertEquals(ext.status, "active", `${ext.id}: ${ext.error}`);
  const server = host.services.require(HttpServerKey);
  const { port } = await server.listen();
  const base = `http://127.0.0.1:${port}`;
  const events: { key: string; payload: unknown }[] = [];
  host.events.on(ConversationOpen, (p) => void events.push({ key: "open", payload: p }));
  host.events.on(ConversationStatusChanged, (p) => void events.push({ key: "status", payload: p }));
  const call = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(base + path, {
      method,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: res.status, body: await res.json() };
  };
  return {
    fake,
    host,
    server,
    events,
    call,
    base,
    async [Symbol.asyncDispose]() {
      await host.shutdown();
      await fake.close();
      await Deno.remove(dataDir, { recursive: true });
    },
  };
}

Deno.test("open emits ConversationOpen; close and workspace deletion emit ConversationStatusChanged", async () => {
  await using h = await boot();
  h.fake.script([text("hi")]);
  const res = await fetch(`${h.base}/chat`, { method: "POST", body: JSON.stringify({ message: "hello" }) });
  const id = res.headers.get("x-conversation-id")!;
  await res.text();

  h.events.length = 0;
  assertEquals((await h.call("POST", `/conversations/${id}/open`)).body, { conversationId: id });
  assertEquals(h.events, [{ key: "open", payload: { conversationId: id, workspaceId: "default" } }]);

  h.events.length = 0;
  assertEquals((await h.call("POST", `/conversations/${id}/close`)).body, {
    conversationId: id,
    abortedTurn: false,
  });
  assertEquals(h.events, [{
    key: "status",
    payload: { conversationId: id, status: "closed", workspaceId: "default" },
  }]);

  // Opening a closed conversation reopens it (idle), then asks frontends to show it.
  h.events.length = 0;
  await h.call("POST", `/conversations/${id}/open`);
  assertEquals(h.events.map((e) => e.key), ["status", "open"]);
  assertEquals((h.events[0].payload as { status: string }).status, "idle");

  // Deleting a workspace closes (and aborts) what is in it, moving it to default.
  h.fake.script([text("busy"), stall()]);
  const busy = await fetch(`${h.base}/chat`, {
    method: "POST",
    body: JSON.stringify({ message: "work", workspaceId: "doomed" }),
  });
  const busyId = busy.headers.get("x-conversation-id")!;
  h.events.length = 0;
  assertEquals((await h.call("DELETE", "/workspaces/doomed")).body, {
    workspaceId: "doomed",
    closedCount: 1,
  });
  assert((await busy.text()).includes('"reason":"aborted"'));
  assertEquals(h.events.at(-1), {
    key: "status",
    payload: { conversationId: busyId, status: "closed", workspaceId: "default" },
  });
});

Deno.test("the OpenAPI document covers every route the server answers, each with its error responses", async () => {
  await using h = await boot();
  const doc = (await h.call("GET", "/openapi.json")).body;
  const served = h.server.routes();
  assert(served.length >= 25, `${served.length} routes`);
  for (const def of served) {
    const op = doc.paths[def.path.replace(/:(\w+)/g, "{$1}")]?.[def.method.toLowerCase()];
    assert(op, `${def.method} ${def.path} is in the document`);
    assert(typeof op.operationId === "string" && typeof op.summary === "string");
    assert(op.responses["200"].content, `${def.path}: 200 has content`);
    for (
      const status of ["404", "405", ...(def.public ? [] : ["401"]), ...(def.body ? ["400", "413"] : [])]
    ) {
      assertEquals(
        op.responses[status]?.content?.["application/json"]?.schema,
        { $ref: "#/components/schemas/Error" },
        `${def.method} ${def.path} ${status}`,
      );
    }
    for (const status of Object.keys(def.errors ?? {})) assert(op.responses[status], `${def.path} ${status}`);
    if (def.public) assertEquals(op.security, []);
  }
  const operations = Object.values(doc.paths as Record<string, object>).flatMap((p) => Object.keys(p));
  assertEquals(operations.length, served.length, "nothing documented that is not served");
  const ids = Object.values(doc.paths as Record<string, Record<string, { operationId: string }>>)
    .flatMap((p) => Object.values(p).map((o) => o.operationId));
  assertEquals(new Set(ids).size, ids.length, "operation ids are unique");
  assertEquals(doc.security, [{ bearer: [] }]);
  assertEquals(doc.components.securitySchemes.bearer.scheme, "bearer");
});

Deno.test("405 patterns match concrete paths segment by segment", () => {
  const re = pathRegex("/conversations/:id/cwd");
  assert(re.test("/conversations/abc/cwd"));
  assert(!re.test("/conversations/a/b/cwd"));
  assert(!re.test("/conversations//cwd"));
  assert(!re.test("/conversations/abc/cwd/x"));
  assert(pathRegex("/a.b").test("/a.b") && !pathRegex("/a.b").test("/axb"));
});
