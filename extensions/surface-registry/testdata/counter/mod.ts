// A sandboxed surface contributor (test fixture): it answers its actions through a service it provides, named in
// its contribution, because functions cannot cross the sandbox bridge.
import { defineKey, type ExtensionContext } from "../../../../src/kernel/mod.ts";
import type { InvokeRequest, SurfaceRegistry } from "../../api.ts";

const RegistryKey = defineKey<SurfaceRegistry>("surface-registry");
const HandlerKey = defineKey<unknown>("surface-handler:counter");

export const manifest = {
  id: "counter",
  version: "0.0.1",
  description: "test fixture: a sandboxed surface with an action",
  dependsOn: ["surface-registry"],
  core: false,
};

export async function activate(ctx: ExtensionContext) {
  const registry = ctx.services.require(RegistryKey);
  let count = 0;
  const fields = () => [{ kind: "stat" as const, label: "count", value: String(count) }];
  ctx.services.provide(HandlerKey, {
    async invoke({ actionId, payload }: InvokeRequest) {
      if (actionId !== "add" || typeof payload !== "number") {
        throw new Error(`counter: no action ${actionId}`);
      }
      count += payload;
      await registry.update("counter", fields());
      return { count };
    },
    render: () => fields(),
  });
  await registry.contribute({
    id: "counter",
    region: "side",
    title: "Counter",
    handlerService: "surface-handler:counter",
  });
}
