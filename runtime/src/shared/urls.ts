/** Whether a repository URL is reached over SSH (scp-like `git@host:path` or `ssh://`). */
export const isSshUrl = (url: string) => /^ssh:\/\//i.test(url) || /^[^/\s:]+@[^:\s]+:/.test(url);
