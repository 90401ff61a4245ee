// hello: one tool, one surface. Runs sandboxed: it imports only the kit (@dispatch/kernel, @dispatch/sdk), zod
// and its own folder, and reaches the surface registry through the service the operator grants it.
import type { ExtensionContext } from "@dispatch/kernel";
import { SurfaceRegistryKey } from "@dispatch/sdk";
import { helloInput } from "./tool_spec.ts";

export { manifest } from "./manifest.ts";

export async function activate(ctx: ExtensionContext) {
  // Granted only when the operator lists "surface-registry" in this extension's services.
  const surfaces = ctx.services.get(SurfaceRegistryKey);
  let count = 0;
  await surfaces?.contribute({ id: "hello", region: "side", title: "Hello", scope: "global" });

  ctx.tools.register({
    name: "hello",
    description: "Greets someone by name",
    inputSchema: helloInput,
    async execute({ name }) {
      count++;
      await surfaces?.update("hello", [{
        kind: "stat",
        id: "count",
        label: "Greetings",
        value: String(count),
      }]);
      return `hello, ${name}`;
    },
  });
}
