import { assertEquals, assertMatch } from "../../tests/assert.ts";
import { ToolFailure } from "../../src/sdk/tool.ts";
import { transcriberSettings } from "./settings.ts";
import { videoId } from "./video_id.ts";

const ID = "dQw4w9WgXcQ";

function refusal(input: string): string {
  try {
    videoId(input);
  } catch (error) {
    if (error instanceof ToolFailure) return error.message;
    throw error;
  }
  throw new Error(`${input} was accepted`);
}

Deno.test("videoId: bare ids and the usual URL forms, extra parameters and all", () => {
  for (
    const form of [
      ID,
      ` ${ID}\n`,
      `https://www.youtube.com/watch?v=${ID}`,
      `https://www.youtube.com/watch?v=${ID}&t=42s&list=PL123`,
      `https://www.youtube.com/watch?feature=share&v=${ID}`,
      `http://youtube.com/watch/?v=${ID}`,
      `youtube.com/watch?v=${ID}`,
      `www.youtube.com/watch?v=${ID}`,
      `https://m.youtube.com/watch?v=${ID}&pp=ygU`,
      `https://music.youtube.com/watch?v=${ID}`,
      `https://youtu.be/${ID}`,
      `https://youtu.be/${ID}?si=AbCdEf&t=10`,
      `youtu.be/${ID}`,
      `https://www.youtube.com/shorts/${ID}`,
      `https://youtube.com/shorts/${ID}?feature=share`,
      `https://www.youtube.com/embed/${ID}?start=30`,
      `https://www.youtube-nocookie.com/embed/${ID}`,
      `https://www.youtube.com/live/${ID}?si=x`,
      `https://www.youtube.com/v/${ID}`,
      `HTTPS://WWW.YOUTUBE.COM/watch?v=${ID}`,
    ]
  ) assertEquals(videoId(form), ID, form);
});

Deno.test("videoId: other hosts, other schemes and malformed ids are refused with a reason", () => {
  assertMatch(refusal(`https://evil.example/watch?v=${ID}`), /neither a YouTube video URL nor/);
  assertMatch(refusal(`https://youtube.com.evil.example/watch?v=${ID}`), /neither a YouTube/);
  assertMatch(refusal(`https://evil.example/?u=https://youtu.be/${ID}`), /neither a YouTube/);
  assertMatch(refusal(`file:///etc/passwd`), /neither a YouTube/);
  assertMatch(refusal(`javascript:alert(1)//youtube.com/watch?v=${ID}`), /neither a YouTube/);
  assertMatch(refusal(`ftp://youtube.com/watch?v=${ID}`), /neither a YouTube/);
  assertMatch(refusal("too-short"), /neither a YouTube/);
  assertMatch(refusal("https://www.youtube.com/watch?v=abc"), /"abc" is not a valid YouTube video id/);
  assertMatch(refusal(`https://youtu.be/${ID}x`), /is not a valid YouTube video id/);
  assertMatch(refusal(`https://www.youtube.com/watch?v=../../x${ID}`), /is not a valid/);
  assertMatch(refusal("https://www.youtube.com/feed/trending"), /no video id in/);
  assertMatch(refusal("https://www.youtube.com/watch"), /no video id in/);
  assertMatch(refusal("https://youtu.be/"), /no video id in/);
});

Deno.test("transcriber settings: off unless YOUTUBE_TRANSCRIPT_URL is set; its host:port is the grant", () => {
  assertEquals(transcriberSettings({}), undefined);
  assertEquals(transcriberSettings({ YOUTUBE_TRANSCRIPT_URL: "http://127.0.0.1:8040/transcript/" }), {
    grant: { YOUTUBE_TRANSCRIPT_URL: "http://127.0.0.1:8040/transcript" },
    net: "127.0.0.1:8040",
  });
  assertEquals(transcriberSettings({ YOUTUBE_TRANSCRIPT_URL: "https://yt.example" })?.net, "yt.example:443");
  for (const bad of ["yt.example", "ftp://yt.example", "http://u:p@yt.example", "http://yt.example/?k=1"]) {
    let message = "";
    try {
      transcriberSettings({ YOUTUBE_TRANSCRIPT_URL: bad });
    } catch (error) {
      message = (error as Error).message;
    }
    assertMatch(message, /^tool-youtube-transcript: YOUTUBE_TRANSCRIPT_URL /, bad);
  }
});
