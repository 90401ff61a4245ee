// youtube_transcript's name, description and input schema in one place: the manifest declares the tool with
// them (the daemon offers it before the sandbox starts) and mod.ts registers it with them.
import { z } from "zod";

export const NAME = "youtube_transcript";
export const MAX_TRANSCRIPT_CHARS = 40_000;
/** A transcriber may be transcribing the audio itself: give it time. */
export const REQUEST_TIMEOUT_MS = 180_000;

export const inputSchema = z.object({
  url: z.string().trim().min(1).max(2048).describe(
    "The video: a YouTube URL (youtube.com/watch?v=…, youtu.be/…, shorts/…, embed/…, live/…) or its 11-character id.",
  ),
});

export const description = "Fetch the transcript of a YouTube video, as timestamped lines ([m:ss] text). " +
  `Transcripts longer than ${MAX_TRANSCRIPT_CHARS} characters are cut, with a note saying so.`;
