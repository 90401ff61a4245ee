// Which settings are secrets: never logged, never handed to a sandbox, never grantable by a manifest.

// Anywhere in the name: DB_PASSWORD, PGPASS, GOOGLE_APPLICATION_CREDENTIALS, SSH_PRIVATE_FILE.
const SECRET_PART = /KEY|TOKEN|SECRET|PASS|CREDENTIAL|PRIVATE|COOKIE/;
// As a whole word only, because the letters occur in harmless names (PAT in PATH, AUTH in GIT_AUTHOR_NAME).
const SECRET_WORD = new Set(["PAT", "PW", "AUTH", "OAUTH", "AUTHORIZATION"]);
// Values that commonly carry a password inside them (postgres://user:pw@host, a DSN).
const CREDENTIAL_CARRIER = new Set(["URL", "URI", "DSN", "CONNECTION", "CONN"]);

const words = (name: string) => name.toUpperCase().split(/[^A-Z0-9]+/).filter(Boolean);

/** True for names like DISPATCH_API_KEY, DISPATCH_TOKEN, UMANS_API_KEY, DB_PASSWORD, PGPASS, GH_PAT. */
export function looksSecret(name: string): boolean {
  return SECRET_PART.test(name.toUpperCase()) || words(name).some((w) => SECRET_WORD.has(w));
}

/**
 * Why a manifest may not be granted the environment variable `name`, or undefined when it may. Stricter than
 * `looksSecret`: a grant is refused for a secret-looking name, a wildcard or prefix (`AWS_*`), a name whose
 * value often embeds a password (`DATABASE_URL`, `SENTRY_DSN`), and the daemon's own settings (`DISPATCH_*`).
 */
export function envGrantRefusal(name: string): string | undefined {
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) {
    return `"${name}" is not a plain variable name (wildcards and prefixes could match a secret); list the names`;
  }
  if (looksSecret(name)) return `"${name}" looks like a secret; sandboxes may not read it`;
  if (words(name).some((w) => CREDENTIAL_CARRIER.has(w))) {
    return `"${name}" names a URL or connection string, which often embeds a password; sandboxes may not read it`;
  }
  if (/^DISPATCH_/i.test(name)) {
    return `"${name}" is one of the daemon's own settings; sandboxes may not read it`;
  }
  return undefined;
}
