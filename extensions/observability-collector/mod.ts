// observability-collector: the `dispatch collector` process (main.ts, collector.ts), and this extension, which
// supervises it from the daemon: started at activation, drained at deactivation (supervisor.ts).
import type { ExtensionContext, ExtensionModule } from "../../src/kernel/mod.ts";
import { superviseCollector, type SupervisorOptions } from "./supervisor.ts";

export { manifest } from "./manifest.ts";
export { collectOnce } from "./collector.ts";
export { superviseCollector } from "./supervisor.ts";
export type { Supervisor, SupervisorOptions } from "./supervisor.ts";

export function createCollectorSupervisor(opts: Omit<SupervisorOptions, "log">): ExtensionModule {
  return {
    activate(ctx: ExtensionContext) {
      const supervisor = superviseCollector({ ...opts, log: ctx.log });
      return () => supervisor.stop();
    },
  };
}
