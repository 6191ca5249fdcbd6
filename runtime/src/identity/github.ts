import { exchangeWebFlowCode, getWebFlowAuthorizationUrl } from '@octokit/oauth-methods';
import { Octokit } from '@octokit/rest';

export interface GitHubProfile {
  readonly id: string;
  readonly login: string;
  readonly name: string;
}
export interface GitHubMemberships {
  /** Organizations (login, lower-cased) with the user's role there: admin or member. */
  readonly orgs: { org: string; role: string }[];
  /** Teams as (org, team slug). */
  readonly teams: { org: string; team: string }[];
}

/**
 * The few GitHub / GitHub Enterprise endpoints Roundhouse uses: the OAuth web flow, the user,
 * their organization memberships and teams. `apiUrl` is `https://api.github.com` or
 * `https://<ghe host>/api/v3`; OAuth goes to the matching web host.
 */
export class GitHubClient {
  readonly #request: Octokit['request'];
  constructor(
    readonly apiUrl: string,
    readonly clientId: string,
    readonly clientSecret: string,
  ) {
    this.#request = new Octokit({ baseUrl: apiUrl }).request;
  }

  authorizeUrl(state: string, redirectUrl: string): string {
    return getWebFlowAuthorizationUrl({
      clientType: 'oauth-app',
      clientId: this.clientId,
      redirectUrl,
      state,
      scopes: ['read:org', 'user:email'],
      request: this.#request,
    }).url;
  }

  /** Trades the code GitHub sent back for the user's access token. */
  async exchange(code: string, redirectUrl: string): Promise<string> {
    const { authentication } = await exchangeWebFlowCode({
      clientType: 'oauth-app',
      clientId: this.clientId,
      clientSecret: this.clientSecret,
      code,
      redirectUrl,
      request: this.#request,
    });
    return authentication.token;
  }

  #octokit(token: string) {
    return new Octokit({ auth: token, baseUrl: this.apiUrl, log: { debug() {}, info() {}, warn() {}, error() {} } });
  }

  async profile(token: string): Promise<GitHubProfile> {
    const { data } = await this.#octokit(token).rest.users.getAuthenticated();
    return { id: String(data.id), login: data.login, name: data.name ?? data.login };
  }

  async memberships(token: string): Promise<GitHubMemberships> {
    const o = this.#octokit(token);
    const orgs = (
      await o.paginate(o.rest.orgs.listMembershipsForAuthenticatedUser, { state: 'active', per_page: 100 })
    ).map((m) => ({ org: m.organization.login.toLowerCase(), role: m.role === 'admin' ? 'admin' : 'member' }));
    const teams = (await o.paginate(o.rest.teams.listForAuthenticatedUser, { per_page: 100 })).map((t) => ({
      org: t.organization.login.toLowerCase(),
      team: t.slug,
    }));
    return { orgs, teams };
  }
}
