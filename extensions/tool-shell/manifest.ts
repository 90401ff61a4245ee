import { type ManifestInput, toolSpec } from "../../src/kernel/mod.ts";
import { description, inputSchema, MAX_TIMEOUT_MS, NAME } from "./tool_spec.ts";
import { SHELL_ENV_NAMES } from "./env_names.ts";

export const manifest: ManifestInput = {
  id: "tool-shell",
  version: "0.2.0",
  description:
    "run_shell: runs bash commands under bubblewrap in the conversation's working directory, output streamed live",
  dependsOn: [],
  permissions: {
    // Spawns bwrap only, which runs bash inside the confined view (src/sandbox/bwrap.ts). "$UNCONFINED_SHELL"
    // becomes "bash" only when the operator opted out of confinement (DISPATCH_UNCONFINED_SHELL=1).
    run: ["bwrap", "$UNCONFINED_SHELL"],
    // Resolving the working directory ("$WORKSPACE_ROOTS": the configured workspace roots), and examining the
    // protected paths ("$PROTECTED_PATHS") to mask them: one that cannot be examined refuses the command.
    read: ["$WORKSPACE_ROOTS", "$PROTECTED_PATHS"],
    // Commands write in the working directory: the sandbox host process's view (src/sandbox/host_link.ts)
    // holds only granted paths writable, and the command's own view cannot be more than it.
    write: ["$WORKSPACE_ROOTS"],
    // The variables passed on to commands.
    env: [...SHELL_ENV_NAMES],
  },
  core: false,
  // Declared, so the daemon offers the tool without starting the sandbox (it starts on the first call).
  // The bridge's limit of a call is set above the longest timeoutMs a command may have.
  tools: [{ ...toolSpec({ name: NAME, description, inputSchema }), timeoutMs: MAX_TIMEOUT_MS }],
};
