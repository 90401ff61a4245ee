// lsp: language servers per working directory. Registers the `lsp` tool, appends fresh diagnostics to
// edit_file's and write_file's results, provides LspServiceKey (GET /conversations/:id/lsp reads it) and the
// global `lsp` surface (each server's state).
//
// Diagnostics after an edit: a turn.prepare-step hook wraps the edit tools' handles for the step, so neither
// the kernel nor the tool extensions change: the wrapper runs the tool, then asks the file's server.
import type { Deactivate, ExtensionContext, ToolHandle } from "../../src/kernel/contracts.ts";
import { PrepareStepHook } from "../../src/kernel/mod.ts";
import { parseProtectedPaths } from "../../src/sdk/workspace.ts";
import { workspaceRoots } from "../../src/sdk/roots.ts";
import { probeBwrap } from "../../src/sandbox/bwrap.ts";
import { type SurfaceField, SurfaceRegistryKey } from "../surface-registry/api.ts";
import { LspServiceKey } from "./api.ts";
import { LspManager } from "./manager.ts";
import { Lsp } from "./service.ts";
import { SERVERS_SETTING, serverTable } from "./servers.ts";
import { lspTool } from "./tool.ts";

export { manifest } from "./manifest.ts";

export interface LspOptions {
  /** DISPATCH_LSP_SERVERS: the servers, for every directory or per folder (JSON, see servers.ts); unset: TypeScript. */
  servers?: string;
  /** DISPATCH_LSP_IDLE_MS: a server unused this long is stopped. */
  idleMs: number;
  /** DISPATCH_LSP_DIAGNOSTICS_MS: how long an edit waits for its file's diagnostics. */
  diagnosticsMs: number;
  /** DISPATCH_LSP_BACKOFF_MS: the first restart delay after a crash (doubling, up to a minute). */
  backoffMs: number;
}

export const EDIT_TOOLS = new Set(["edit_file", "write_file"]);
export const SURFACE_ID = "lsp";

export function lspOptionsFromEnv(env: Record<string, string | undefined>): LspOptions {
  const ms = (name: string, fallback: number) => {
    const raw = env[name]?.trim();
    if (!raw) return fallback;
    if (!/^\d{1,9}$/.test(raw)) throw new Error(`${name} must be a whole number of milliseconds`);
    return Number(raw);
  };
  return {
    servers: env[SERVERS_SETTING],
    idleMs: ms("DISPATCH_LSP_IDLE_MS", 10 * 60_000),
    diagnosticsMs: ms("DISPATCH_LSP_DIAGNOSTICS_MS", 20_000),
    backoffMs: ms("DISPATCH_LSP_BACKOFF_MS", 1000),
  };
}

export function createLsp(options: LspOptions) {
  // A malformed setting stops the start with one line naming it, like every other setting.
  const table = serverTable(options.servers);
  return {
    async activate(ctx: ExtensionContext): Promise<Deactivate> {
      const protectedPaths = parseProtectedPaths(ctx.config);
      // Fail closed: servers only ever run confined. Without bubblewrap the tool answers why, and edits get no note.
      const probe = await probeBwrap();
      const refusal = probe.ok
        ? undefined
        : `language servers run only under bubblewrap (Debian package bubblewrap), which cannot run here: ${probe.reason}`;
      if (refusal) ctx.log.warn(refusal);
      const registry = ctx.services.get(SurfaceRegistryKey);
      let pending = false;
      const manager: LspManager = new LspManager({
        idleMs: options.idleMs,
        backoffMs: options.backoffMs,
        maxBackoffMs: 60_000,
        stableMs: 60_000,
        readOnly: workspaceRoots(ctx.config),
        ...(refusal ? { refusal } : {}),
        masked: protectedPaths,
        log: ctx.log,
        onChange: () => {
          if (!registry || pending) return;
          pending = true;
          queueMicrotask(() => {
            pending = false;
            registry.update(SURFACE_ID, surfaceFields(manager));
          });
        },
      });
      const lsp = new Lsp(manager, table, protectedPaths);
      ctx.services.provide(LspServiceKey, lsp);
      ctx.tools.register(lspTool(lsp, options.diagnosticsMs));
      registry?.contribute({
        id: SURFACE_ID,
        region: "side",
        title: "Language servers",
        scope: "global",
        fields: surfaceFields(manager),
      });

      const withDiagnostics = (tool: ToolHandle): ToolHandle => ({
        spec: tool.spec,
        parse: (input) => tool.parse(input),
        async execute(input, tctx) {
          const result = await tool.execute(input, tctx);
          const path = (input as { path?: unknown }).path;
          if (refusal || result.isError || !tctx.cwd || typeof path !== "string") return result;
          const note = await lsp.afterEdit(tctx.cwd, path, options.diagnosticsMs, tctx.signal).catch(() =>
            ""
          );
          return note ? { ...result, content: result.content + note } : result;
        },
      });
      ctx.hooks.register(PrepareStepHook, (plan) => {
        if (!plan.tools.some((t) => EDIT_TOOLS.has(t.spec.name))) return;
        return {
          ...plan,
          tools: plan.tools.map((t) => EDIT_TOOLS.has(t.spec.name) ? withDiagnostics(t) : t),
        };
      });

      return async () => {
        await manager.stopAll();
        registry?.withdraw(SURFACE_ID);
      };
    },
  };
}

function surfaceFields(manager: LspManager): SurfaceField[] {
  const servers = manager.all();
  if (servers.length === 0) return [{ kind: "stat", label: "Language servers", value: "none running" }];
  return servers.map((s) => ({
    kind: "stat",
    label: `${s.name} · ${s.root}`,
    value: `${s.state}${s.pid ? ` (pid ${s.pid})` : ""}${s.restarts ? `, ${s.restarts} restarts` : ""}${
      s.error ? `: ${s.error}` : ""
    }`.slice(0, 10_000),
  }));
}
