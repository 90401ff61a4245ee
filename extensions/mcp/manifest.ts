import type { ManifestInput } from "../../src/kernel/mod.ts";

export const manifest: ManifestInput = {
  abi: 1,
  id: "mcp-client",
  version: "0.1.0",
  description:
    "MCP servers' tools (mcp__<server>__<tool>): stdio servers confined by bubblewrap, streamable HTTP",
  dependsOn: [],
  // In the daemon's process (it spawns bwrap and holds the servers' connections), so not sandboxed.
  permissions: { run: ["bwrap"], net: true },
  core: false,
};
