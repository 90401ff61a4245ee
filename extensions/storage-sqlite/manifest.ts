import type { ManifestInput } from "../../src/kernel/mod.ts";

export const manifest: ManifestInput = {
  id: "storage-sqlite",
  version: "0.1.0",
  description: "SQLite storage backend (node:sqlite): named databases under the data directory, WAL mode",
  dependsOn: [],
  permissions: {},
  core: true,
};
