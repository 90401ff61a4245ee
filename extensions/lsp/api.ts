// What the lsp extension offers others: each language server's state for a working directory (the shape the
// reference web frontend reads from GET /conversations/:id/lsp).
import { defineKey } from "../../src/kernel/mod.ts";

export type LspServerState = "connected" | "starting" | "error" | "not-started";

export interface LspServerInfo {
  id: string;
  name: string;
  /** The folder the server works in (the conversation's cwd). */
  root: string;
  /** File name endings it handles, e.g. [".ts", ".tsx"]. */
  extensions: string[];
  state: LspServerState;
  error?: string;
  /** Where the server's definition came from: "built-in", or DISPATCH_LSP_SERVERS (with the folder). */
  configSource?: string;
  /** bwrap's pid while the server runs. */
  pid?: number;
  /** How often it was restarted after a crash. */
  restarts?: number;
}

export interface LspService {
  /**
   * The servers configured for `cwd`, with their state; never throws for one server's failure. With `start`,
   * servers not running are started in the background (as the reference does: its frontend polls this).
   */
  status(cwd: string, opts?: { start?: boolean }): Promise<LspServerInfo[]>;
}

export const LspServiceKey = defineKey<LspService>("lsp");
