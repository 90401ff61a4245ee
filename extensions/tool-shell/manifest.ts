import type { ManifestInput } from "../../src/kernel/mod.ts";
import { SHELL_ENV_NAMES } from "./env_names.ts";

export const manifest: ManifestInput = {
  id: "tool-shell",
  version: "0.1.0",
  description: "run_shell: runs bash commands in the conversation's working directory, output streamed live",
  dependsOn: [],
  permissions: {
    // Spawns bash only (for the command, and for `kill` on its process group when Deno.kill is not allowed).
    // The child process is not sandboxed by Deno: bash can run anything the daemon's user can.
    // `unshare` gives commands a private mount namespace in which the protected paths are covered up.
    run: ["bash", "unshare"],
    // Resolving and checking the working directory ("$WORKSPACE_ROOTS": the configured workspace roots).
    read: ["$WORKSPACE_ROOTS"],
    // The variables passed on to commands.
    env: [...SHELL_ENV_NAMES],
  },
  core: false,
};
