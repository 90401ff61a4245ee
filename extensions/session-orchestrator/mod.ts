import { type ExtensionContext, invalid } from "../../src/kernel/mod.ts";
import { ConversationStoreKey } from "../conversation-store/api.ts";
import { ModelCatalogKey } from "../credential-store/api.ts";
import { OrchestratorKey } from "./api.ts";
import { SessionOrchestrator } from "./orchestrator.ts";
import { isInside, workspaceRoots } from "../../src/sdk/roots.ts";

export function activate(ctx: ExtensionContext) {
  const roots = workspaceRoots(ctx.config);
  const orchestrator = new SessionOrchestrator({
    store: ctx.services.require(ConversationStoreKey),
    catalog: ctx.services.require(ModelCatalogKey),
    tools: () => ctx.tools.list(),
    hooks: ctx.hooks,
    events: ctx.events,
    log: ctx.log,
    maxSteps: Number(ctx.config.DISPATCH_MAX_STEPS) || undefined,
    checkCwd: async (cwd) => {
      if (!cwd.startsWith("/")) throw invalid("bad_cwd", `cwd must be an absolute path, got "${cwd}"`);
      let real: string;
      try {
        real = await Deno.realPath(cwd);
        if (!(await Deno.stat(real)).isDirectory) throw new Error();
      } catch {
        throw invalid("bad_cwd", `cwd "${cwd}" is not an existing directory`);
      }
      if (!roots.some((root) => isInside(real, root))) {
        throw invalid("bad_cwd", `cwd "${cwd}" is outside the workspace roots (${roots.join(", ")})`);
      }
      return real;
    },
  });
  ctx.services.provide(OrchestratorKey, orchestrator);
  return () => orchestrator.stopAll();
}
