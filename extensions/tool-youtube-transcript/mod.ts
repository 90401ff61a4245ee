// youtube_transcript: a video's transcript from the transcriber service at YOUTUBE_TRANSCRIPT_URL, the only host
// this sandbox can reach. The service's contract:
//
//   POST <YOUTUBE_TRANSCRIPT_URL>   content-type: application/json
//     {"videoId": "dQw4w9WgXcQ", "url": "https://www.youtube.com/watch?v=dQw4w9WgXcQ"}
//   200 {"videoId": "dQw4w9WgXcQ", "title"?: string, "language"?: string,
//        "segments": [{"start": seconds, "duration"?: seconds, "text": string}, ...]}
//   404 {"error": string}   the video has no transcript (or does not exist); so does 200 with no segments
//   other 4xx / 5xx {"error": string}   the service failed or refused; its error is shown to the model
import { z } from "zod";
import type { ExtensionContext } from "../../src/kernel/contracts.ts";
import { describeZodError } from "../../src/kernel/mod.ts";
import {
  answerError,
  capText,
  parseServiceUrl,
  requestService,
  statusFailure,
} from "../../src/sdk/service.ts";
import { defineTool, fail } from "../../src/sdk/tool.ts";
import { YOUTUBE_TRANSCRIPT_URL } from "./settings.ts";
import { description, inputSchema, MAX_TRANSCRIPT_CHARS, NAME, REQUEST_TIMEOUT_MS } from "./tool_spec.ts";
import { videoId, watchUrl } from "./video_id.ts";

export { manifest } from "./manifest.ts";

const SERVICE = "the transcriber";

const TranscriptSchema = z.object({
  title: z.string().nullish(),
  language: z.string().nullish(),
  segments: z.array(z.object({
    start: z.number().nonnegative(),
    duration: z.number().nullish(),
    text: z.string(),
  })),
});

export function activate(ctx: ExtensionContext): void {
  const service = parseServiceUrl(YOUTUBE_TRANSCRIPT_URL, ctx.config[YOUTUBE_TRANSCRIPT_URL] ?? "");
  if (!service.ok) {
    throw new Error(
      `tool-youtube-transcript was not granted a usable ${YOUTUBE_TRANSCRIPT_URL}: ${service.error}`,
    );
  }

  ctx.tools.register(defineTool({
    name: NAME,
    description,
    inputSchema,
    async execute(input, tctx) {
      const id = videoId(input.url);
      const answer = await requestService({
        service: SERVICE,
        method: "POST",
        url: service.url,
        body: { videoId: id, url: watchUrl(id) },
        signal: tctx.signal,
        timeoutMs: REQUEST_TIMEOUT_MS,
      });
      if (answer.status === 404) {
        fail(`video ${id} has no transcript (${SERVICE} said: ${answerError(answer.body)})`);
      }
      if (answer.status < 200 || answer.status > 299) fail(statusFailure(SERVICE, answer));
      const parsed = TranscriptSchema.safeParse(answer.body);
      if (!parsed.success) {
        fail(`${SERVICE} sent an answer of an unexpected shape: ${describeZodError(parsed.error)}`);
      }
      const t = parsed.data;
      const lines = t.segments.map((s) => `[${clock(s.start)}] ${s.text.replace(/\s+/g, " ").trim()}`);
      if (lines.length === 0) fail(`video ${id} has no transcript (${SERVICE} returned no segments)`);
      const about = [t.title ? JSON.stringify(t.title) : "", t.language ? `language ${t.language}` : ""]
        .filter(Boolean).join(", ");
      const head = `transcript of ${watchUrl(id)}${about ? ` (${about})` : ""}:`;
      return capText([head, ...lines].join("\n"), MAX_TRANSCRIPT_CHARS, "the rest of the video is not shown");
    },
  }));
}

/** 75 → "1:15", 3725 → "1:02:05". */
function clock(seconds: number): string {
  const s = Math.floor(seconds);
  const hh = Math.floor(s / 3600);
  const mm = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, "0");
  return hh > 0 ? `${hh}:${String(mm).padStart(2, "0")}:${ss}` : `${mm}:${ss}`;
}
