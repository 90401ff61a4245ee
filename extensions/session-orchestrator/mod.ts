import type { ExtensionContext } from "../../src/kernel/mod.ts";
import { ConversationStoreKey } from "../conversation-store/api.ts";
import { ModelCatalogKey } from "../credential-store/api.ts";
import { OrchestratorKey } from "./api.ts";
import { SessionOrchestrator } from "./orchestrator.ts";
import { directoryChecker } from "../../src/sdk/roots.ts";

export function activate(ctx: ExtensionContext) {
  const orchestrator = new SessionOrchestrator({
    store: ctx.services.require(ConversationStoreKey),
    catalog: ctx.services.require(ModelCatalogKey),
    tools: () => ctx.tools.list(),
    hooks: ctx.hooks,
    events: ctx.events,
    log: ctx.log,
    maxSteps: Number(ctx.config.DISPATCH_MAX_STEPS) || undefined,
    checkCwd: directoryChecker(ctx.config),
  });
  ctx.services.provide(OrchestratorKey, orchestrator);
  return () => orchestrator.stopAll();
}
