// Where youtube_transcript's transcriber lives, read from the environment by the composition root; the sandbox
// gets the URL as config granted at activation and a `net` grant for its host:port only.
import { BootError } from "../../src/kernel/mod.ts";
import { netGrant, parseServiceUrl } from "../../src/sdk/service.ts";

export const YOUTUBE_TRANSCRIPT_URL = "YOUTUBE_TRANSCRIPT_URL";

export interface TranscriberSettings {
  grant: Record<string, string>;
  net: string;
}

/** Undefined (no youtube_transcript) unless YOUTUBE_TRANSCRIPT_URL is set; a BootError when it is malformed. */
export function transcriberSettings(
  env: Record<string, string | undefined>,
): TranscriberSettings | undefined {
  const value = env[YOUTUBE_TRANSCRIPT_URL];
  if (!value) return undefined;
  const parsed = parseServiceUrl(YOUTUBE_TRANSCRIPT_URL, value);
  if (!parsed.ok) throw new BootError(`tool-youtube-transcript: ${parsed.error}`);
  return { grant: { [YOUTUBE_TRANSCRIPT_URL]: parsed.url }, net: netGrant(parsed.url) };
}
