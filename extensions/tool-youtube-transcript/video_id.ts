// A YouTube video id from what a model passes: a bare 11-character id, or any usual URL form (watch?v=,
// youtu.be/, shorts/, embed/, live/, v/, m./music./nocookie hosts, extra parameters). Only the id leaves the
// extension: the URL itself is never fetched, and a URL on any other host is refused.
import { fail } from "../../src/sdk/tool.ts";

const ID = /^[A-Za-z0-9_-]{11}$/;
const HOSTS = new Set([
  "youtube.com",
  "www.youtube.com",
  "m.youtube.com",
  "music.youtube.com",
  "youtube-nocookie.com",
  "www.youtube-nocookie.com",
  "youtu.be",
  "www.youtu.be",
]);
const PATH_FORMS = /^\/(?:shorts|embed|live|v|e)\/([^/]*)/;

export function videoId(input: string): string {
  const text = input.trim();
  if (ID.test(text)) return text;
  let url: URL;
  try {
    url = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(text) ? text : `https://${text}`);
  } catch {
    return notYouTube(input);
  }
  const host = url.hostname.toLowerCase().replace(/\.$/, "");
  if ((url.protocol !== "https:" && url.protocol !== "http:") || !HOSTS.has(host)) return notYouTube(input);
  const candidate = host.endsWith("youtu.be")
    ? url.pathname.split("/")[1]
    : url.pathname.replace(/\/+$/, "") === "/watch"
    ? url.searchParams.get("v")
    : url.pathname.match(PATH_FORMS)?.[1];
  if (!candidate) {
    fail(`url: no video id in ${JSON.stringify(input)} (expected watch?v=…, youtu.be/…, shorts/…)`);
  }
  if (!ID.test(candidate)) {
    fail(`url: ${JSON.stringify(candidate)} is not a valid YouTube video id (11 letters, digits, - or _)`);
  }
  return candidate;
}

function notYouTube(input: string): never {
  fail(`url: ${JSON.stringify(input)} is neither a YouTube video URL nor an 11-character video id`);
}

export const watchUrl = (id: string) => `https://www.youtube.com/watch?v=${id}`;
