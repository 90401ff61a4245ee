// Kept apart from mod.ts so the manifest, which declares these as run_shell's env permission, stays cheap to import.

/** Environment variables passed from the daemon to commands; everything else is dropped. */
export const SHELL_ENV_NAMES = [
  "PATH",
  "HOME",
  "USER",
  "LOGNAME",
  "SHELL",
  "LANG",
  "LANGUAGE",
  "LC_ALL",
  "LC_CTYPE",
  "LC_MESSAGES",
  "TERM",
  "TMPDIR",
  "TZ",
] as const;
