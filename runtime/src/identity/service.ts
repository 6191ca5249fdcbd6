import { createHash, randomBytes, randomUUID } from 'node:crypto';
import type { Envelope } from '../secrets/envelope.js';
import type { AuditEntity, AuditSink } from '../shared/audit.js';
import { RoundhouseError } from '../shared/errors.js';
import type { IdentityUserRow, UserState } from '../store/identity.js';
import type { Store } from '../store/store.js';
import type { GitHubClient } from './github.js';

export const hashSecret = (s: string) => createHash('sha256').update(s).digest('hex');
const now = () => new Date().toISOString();

/** System settings an admin changes at run time (Admin → System Settings). */
export interface SystemSettings {
  /** New users start suspended: an admin must activate them. */
  suspendNewUsers: boolean;
  /** GitHub organizations (lower-case); when non-empty, only their members may log in. */
  requiredOrgs: string[];
}

export const userEntity = (u: { id: string; login: string }): AuditEntity => ({
  id: u.id,
  type: 'user',
  name: u.login,
});

export type Requester = { id: string } | null;

/**
 * Users as the operations guide defines them: active, inactive (approved by an admin but never
 * logged in; not counted against seats) and suspended. Login checks the system settings; a
 * suspended user's tokens and sessions stop working at once because every request reads the state.
 */
export class Identity {
  constructor(
    readonly store: Store,
    readonly envelope: Envelope | undefined,
    readonly github: GitHubClient | undefined,
    public audit: AuditSink | undefined = undefined,
  ) {}

  async systemSettings(): Promise<SystemSettings> {
    const s = await this.store.identity.settings();
    return {
      suspendNewUsers: s.suspend_new_users === 'true',
      requiredOrgs: (s.required_org_membership ?? '')
        .split(',')
        .map((o) => o.trim().toLowerCase())
        .filter(Boolean),
    };
  }

  async updateSystemSettings(next: Partial<SystemSettings>) {
    if (next.suspendNewUsers !== undefined)
      await this.store.identity.putSetting('suspend_new_users', String(next.suspendNewUsers));
    if (next.requiredOrgs !== undefined)
      await this.store.identity.putSetting('required_org_membership', next.requiredOrgs.join(','));
    return this.systemSettings();
  }

  /** An admin approves a user ahead of their first login: the account is inactive until they log in. */
  async createUser(login: string, actor: AuditEntity, request: Requester, admin = false): Promise<IdentityUserRow> {
    const target = { id: login, type: 'user', name: login };
    try {
      if (!/^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})$/.test(login))
        throw new RoundhouseError('RH_BAD_REQUEST', `"${login}" is not a GitHub login.`);
      if (await this.store.identity.userByLogin(login))
        throw new RoundhouseError('RH_CONFLICT', `User ${login} already exists.`);
      const row: IdentityUserRow = {
        id: randomUUID(),
        login,
        name: login,
        is_admin: admin ? 1 : 0,
        created_at: now(),
        state: 'inactive',
        github_id: null,
        last_login_at: null,
        github_token_enc: null,
        permissions_at: null,
      };
      await this.store.identity.insertUser(row);
      await this.audit?.record({
        action: 'user.create',
        actor,
        target: userEntity(row),
        scope: userEntity(row),
        payload: { login, state: row.state, created_by: 'admin' },
        success: true,
        request,
      });
      return row;
    } catch (e) {
      await this.audit?.record({
        action: 'user.create',
        actor,
        target,
        scope: target,
        payload: { login, created_by: 'admin', error: (e as Error).message },
        success: false,
        request,
      });
      throw e;
    }
  }

  async setState(login: string, state: Exclude<UserState, 'inactive'>): Promise<IdentityUserRow> {
    const u = await this.store.identity.userByLogin(login);
    if (!u) throw new RoundhouseError('RH_NOT_FOUND', `User ${login}`);
    // Activating an approved user who never logged in keeps them inactive (not counted as a seat).
    const next: UserState = state === 'active' && !u.last_login_at && !u.github_id ? 'inactive' : state;
    if (u.login === 'admin' && next === 'suspended')
      throw new RoundhouseError('RH_BAD_REQUEST', 'The bootstrap admin cannot be suspended.');
    await this.store.identity.updateUser(u.id, { state: next });
    return { ...u, state: next };
  }

  async deleteUser(login: string) {
    const u = await this.store.identity.userByLogin(login);
    if (!u) throw new RoundhouseError('RH_NOT_FOUND', `User ${login}`);
    if (u.login === 'admin') throw new RoundhouseError('RH_BAD_REQUEST', 'The bootstrap admin cannot be deleted.');
    await this.store.tx((s) => s.identity.deleteUser(u.id));
  }

  /**
   * A GitHub OAuth login: checks the required organizations, creates the user on first login
   * (suspended when "Suspend New Users" is on), refreshes their memberships, and refuses suspended
   * users. Returns the user, or throws RH_FORBIDDEN with the reason.
   */
  async loginWithGitHub(code: string, redirectUrl: string, request: Requester): Promise<IdentityUserRow> {
    if (!this.github) throw new RoundhouseError('RH_BAD_REQUEST', 'GitHub login is not configured on this server.');
    const gh = this.github;
    const { token, profile, memberships } = await (async () => {
      const token = await gh.exchange(code, redirectUrl);
      return { token, profile: await gh.profile(token), memberships: await gh.memberships(token) };
    })().catch((e: Error & { status?: number }) => {
      // GitHub's own words (e.g. "The code passed is incorrect or expired."), never a token.
      if (e.status === 400 || e.status === 401)
        throw new RoundhouseError('RH_BAD_REQUEST', `GitHub login failed: ${e.message.replace(/\s*\(.*\)$/, '')}`);
      throw new RoundhouseError('RH_GITHUB', e.message.split('\n')[0].slice(0, 200));
    });
    const settings = await this.systemSettings();
    let user =
      (await this.store.identity.userByGithubId(profile.id)) ?? (await this.store.identity.userByLogin(profile.login));
    const fail = async (msg: string, u?: IdentityUserRow) => {
      const who = u ? userEntity(u) : { id: profile.id, type: 'user', name: profile.login };
      await this.audit?.record({
        action: 'user.logged_in',
        actor: who,
        target: who,
        scope: who,
        payload: { login: profile.login, provider: 'github', reason: msg },
        success: false,
        request,
      });
      return new RoundhouseError('RH_LOGIN_REFUSED', msg);
    };
    if (settings.requiredOrgs.length && !memberships.orgs.some((o) => settings.requiredOrgs.includes(o.org)))
      throw await fail(
        `Log in refused: ${profile.login} is not a member of a required organization (${settings.requiredOrgs.join(', ')}).`,
        user,
      );
    const tokenEnc = this.envelope ? await this.envelope.encrypt(token) : null;
    if (!user) {
      user = {
        id: randomUUID(),
        login: profile.login,
        name: profile.name,
        is_admin: 0,
        created_at: now(),
        state: settings.suspendNewUsers ? 'suspended' : 'active',
        github_id: profile.id,
        last_login_at: null,
        github_token_enc: tokenEnc,
        permissions_at: null,
      };
      await this.store.identity.insertUser(user);
      await this.audit?.record({
        action: 'user.create',
        actor: userEntity(user),
        target: userEntity(user),
        scope: userEntity(user),
        payload: { login: user.login, state: user.state, created_by: 'login' },
        success: true,
        request,
      });
    }
    await this.store.identity.updateUser(user.id, {
      github_id: profile.id,
      name: profile.name,
      github_token_enc: tokenEnc,
    });
    await this.store.identity.setMemberships(user.id, memberships.orgs, memberships.teams);
    if (user.state === 'suspended')
      throw await fail(
        settings.suspendNewUsers && !user.last_login_at
          ? `Account ${user.login} is waiting for an administrator to activate it.`
          : `Account ${user.login} is suspended.`,
        user,
      );
    const fields = { state: 'active' as const, last_login_at: now() };
    await this.store.identity.updateUser(user.id, fields);
    return { ...user, ...fields };
  }

  /** Re-reads a user's organizations and teams from GitHub ("Refresh Permissions"). */
  async refreshPermissions(
    userId: string,
  ): Promise<{ orgs: { org: string; role: string }[]; teams: { org: string; team: string }[] }> {
    const u = await this.store.identity.user(userId);
    if (!u?.github_token_enc || !this.github || !this.envelope)
      throw new RoundhouseError('RH_BAD_REQUEST', 'This account is not linked to GitHub; there is nothing to refresh.');
    const m = await this.github.memberships(await this.envelope.decrypt(u.github_token_enc));
    await this.store.identity.setMemberships(u.id, m.orgs, m.teams);
    return m;
  }

  // personal API tokens
  async createToken(userId: string, label: string) {
    const token = `rh_${randomBytes(20).toString('hex')}`;
    const row = { id: randomUUID(), token_hash: hashSecret(token), user_id: userId, label, created_at: now() };
    await this.store.identity.addToken(row);
    return { id: row.id, label, created_at: row.created_at, token };
  }

  // sessions
  async createSession(userId: string, hours = 12) {
    const id = randomBytes(32).toString('base64url');
    const csrf = randomBytes(24).toString('base64url');
    await this.store.identity.addSession(
      hashSecret(id),
      userId,
      csrf,
      new Date(Date.now() + hours * 3600000).toISOString(),
    );
    return { id, csrf };
  }
}

/** What a user may do in an organization, from the cached GitHub memberships. */
export async function orgRole(store: Store, user: { id: string; is_admin: number }, org: string) {
  if (user.is_admin) return 'admin';
  const o = (await store.identity.orgsOf(user.id)).find((x) => x.org === org.toLowerCase());
  return o?.role as 'admin' | 'member' | undefined;
}

/**
 * May this user use (or manage the variables of) a context? Admins and org admins always; others
 * when the context has no security groups ("All members") and they belong to its org, or when they
 * are in one of its groups (GitHub teams).
 */
export async function mayUseContext(
  store: Store,
  user: { id: string; is_admin: number } | undefined,
  context: { id: string; org_id: string },
): Promise<boolean> {
  if (!user) return false;
  if (user.is_admin) return true;
  const org = await store.identity.org(context.org_id);
  if (!org) return false;
  const role = await orgRole(store, user, org.name);
  if (role === 'admin') return true;
  if (!role) return false;
  const groups = await store.secrets.groupsOf(context.id);
  if (!groups.length) return true;
  const teams = (await store.identity.teamsOf(user.id)).filter((t) => t.org === org.name.toLowerCase());
  return groups.some((g) => teams.some((t) => t.team === g.team));
}
