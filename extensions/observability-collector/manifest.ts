import type { ManifestInput } from "../../src/kernel/mod.ts";

export const manifest: ManifestInput = {
  id: "observability-collector",
  version: "0.1.0",
  description: "Supervises `dispatch collector`, which follows the journal into the trace store",
  core: true,
};
