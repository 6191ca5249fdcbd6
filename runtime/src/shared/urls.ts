/** Whether a repository URL is reached over SSH (scp-like `git@host:path` or `ssh://`). */
export const isSshUrl = (url: string) => /^ssh:\/\//i.test(url) || /^[^/\s:]+@[^:\s]+:/.test(url);

/** Whether a repository URL is reached over HTTP(S). */
export const isHttpUrl = (url: string) => /^https?:\/\//i.test(url);

/** The project environment variable whose value authenticates HTTPS checkouts (a token). */
export const CHECKOUT_TOKEN_VAR = 'ROUNDHOUSE_CHECKOUT_TOKEN';

/**
 * git configuration through the environment (not the command line, not .git/config) that sends a
 * token as HTTP basic auth, as GitHub, GitLab and Gitea accept it (`x-access-token:<token>`).
 */
export function tokenGitEnv(token: string): Record<string, string> {
  return {
    GIT_CONFIG_COUNT: '1',
    GIT_CONFIG_KEY_0: 'http.extraHeader',
    GIT_CONFIG_VALUE_0: `Authorization: Basic ${basicToken(token)}`,
  };
}
export const basicToken = (token: string) => Buffer.from(`x-access-token:${token}`).toString('base64');
