import type { ManifestInput } from "../../src/kernel/mod.ts";

export const manifest: ManifestInput = {
  id: "todo",
  version: "0.1.0",
  description: "todo_write: a per-conversation task list the model keeps, shown on the `todo` surface",
  dependsOn: ["surface-registry"],
  permissions: {},
  core: false,
};
