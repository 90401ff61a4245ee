import { type ManifestInput, toolSpec } from "../../src/kernel/mod.ts";
import { description, inputSchema, NAME, REQUEST_TIMEOUT_MS } from "./tool_spec.ts";

export const manifest: ManifestInput = {
  id: "tool-youtube-transcript",
  version: "0.1.0",
  description:
    "youtube_transcript: fetches a YouTube video's transcript from the configured transcriber service",
  dependsOn: [],
  // "$YOUTUBE_TRANSCRIPT_HOST" is expanded by the host to YOUTUBE_TRANSCRIPT_URL's host:port, and nothing else.
  permissions: { net: ["$YOUTUBE_TRANSCRIPT_HOST"] },
  core: false,
  // Declared, so the daemon offers the tool without starting the sandbox (it starts on the first call).
  tools: [{ ...toolSpec({ name: NAME, description, inputSchema }), timeoutMs: REQUEST_TIMEOUT_MS }],
};
