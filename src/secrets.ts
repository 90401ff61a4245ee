// Which settings are secrets: never logged, never handed to a sandbox, never grantable by a manifest.
const SECRET_NAME = /KEY|TOKEN|SECRET|PASSWORD/i;

/** True for names like DISPATCH_API_KEY, DISPATCH_TOKEN, UMANS_API_KEY, DB_PASSWORD. */
export const looksSecret = (name: string): boolean => SECRET_NAME.test(name);
