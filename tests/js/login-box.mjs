// The login box and the admin portal, driven through the real @frontegg/rest-api (unmodified)
// against a running Tessera, in the order @frontegg/redux-store calls it. Run by
// tests/clients/rest_api.rs, which starts the control plane and passes:
//   TESSERA_URL      the control plane's base URL
//   TESSERA_CLIENT_ID, TESSERA_API_KEY   environment credentials (the app's backend's: used
//                    only to give the new user a second account to switch to)
//   TESSERA_OUTBOX   the directory the control plane writes mail to
//   APP_ORIGIN       the origin the login box page is served from (another origin)
// Each step prints `ok <step>`; the first failure prints `FAIL <step>: …` and exits 1.

import { createRequire } from 'node:module';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { createHash, createHmac, generateKeyPairSync, randomBytes, sign } from 'node:crypto';
import { join } from 'node:path';
import assert from 'node:assert/strict';
import { Browser } from './browser.mjs';

const require = createRequire(import.meta.url);
const { createApiClient, ContextHolder } = require('@frontegg/rest-api');

const env = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set`);
  return v;
};
const BASE = env('TESSERA_URL');
const OUTBOX = env('TESSERA_OUTBOX');
const APP_ORIGIN = env('APP_ORIGIN');

const browser = new Browser(APP_ORIGIN);
browser.install();

const APP = 'default';
const context = () => ContextHolder.for(APP);
context().setContext({ baseUrl: BASE, requestCredentials: 'include' });
const api = createApiClient(APP);

// ---- helpers ---------------------------------------------------------------------------

/** The newest mail of `kind` to `to`, waiting for asynchronous delivery. */
async function mail(kind, to) {
  for (let i = 0; i < 200; i++) {
    let files = [];
    try {
      files = readdirSync(OUTBOX).filter((f) => f.endsWith(`-${kind}.eml`));
    } catch {}
    const hits = files
      .map((f) => ({ f, text: readFileSync(join(OUTBOX, f), 'utf8'), t: statSync(join(OUTBOX, f)).mtimeMs }))
      .filter((m) => m.text.includes(`To: ${to}\r\n`))
      .sort((a, b) => a.t - b.t);
    if (hits.length) return hits[hits.length - 1].text;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`no ${kind} mail to ${to}`);
}

/** Messages of `kind` (`.eml` or `.sms`) to `to`, oldest first. */
function messages(ext, kind, to) {
  let files = [];
  try {
    files = readdirSync(OUTBOX).filter((f) => f.endsWith(`-${kind}.${ext}`));
  } catch {}
  const head = ext === 'eml' ? `To: ${to}\r\n` : `To: ${to}\n`;
  return files
    .map((f) => ({ text: readFileSync(join(OUTBOX, f), 'utf8'), t: statSync(join(OUTBOX, f)).mtimeMs }))
    .filter((m) => m.text.includes(head))
    .sort((a, b) => a.t - b.t);
}

/** The message `run` causes: waits for one more `kind` message to `to` than before it. */
async function caused(ext, kind, to, run) {
  const before = messages(ext, kind, to).length;
  const result = await run();
  for (let i = 0; i < 200; i++) {
    const all = messages(ext, kind, to);
    if (all.length > before) return { result, text: all[all.length - 1].text };
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`no new ${kind} message to ${to}`);
}

const sixDigits = (text) => text.match(/\b(\d{6})\b/)[1];

/** RFC 6238 as an authenticator app computes it (SHA-1, 6 digits, 30 s), `offset` steps on. */
function totp(base32, offset = 0) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = '';
  for (const c of base32) bits += alphabet.indexOf(c).toString(2).padStart(5, '0');
  const key = Buffer.from(bits.match(/.{8}/g).map((b) => parseInt(b, 2)));
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(Date.now() / 30000) + offset));
  const mac = createHmac('sha1', key).update(counter).digest();
  const o = mac[19] & 0xf;
  return String((mac.readUInt32BE(o) & 0x7fffffff) % 1000000).padStart(6, '0');
}


/** A software security key (ES256): what `navigator.credentials` would answer, run through
 *  the store's `publicKeyCredentialToJSON` (ArrayBuffers as unpadded base64url). */
class SoftKey {
  constructor(origin) {
    this.origin = origin;
    this.keys = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    this.id = randomBytes(32);
    this.count = 0;
  }
  static cbor(v) {
    const head = (major, n) => {
      if (n < 24) return Buffer.from([(major << 5) | n]);
      if (n < 256) return Buffer.from([(major << 5) | 24, n]);
      const b = Buffer.alloc(3); b[0] = (major << 5) | 25; b.writeUInt16BE(n, 1); return b;
    };
    if (typeof v === 'number') return v >= 0 ? head(0, v) : head(1, -1 - v);
    if (Buffer.isBuffer(v)) return Buffer.concat([head(2, v.length), v]);
    if (typeof v === 'string') return Buffer.concat([head(3, Buffer.byteLength(v)), Buffer.from(v)]);
    const entries = v instanceof Map ? [...v.entries()] : Object.entries(v);
    return Buffer.concat([head(5, entries.length), ...entries.flatMap(([k, x]) => [SoftKey.cbor(k), SoftKey.cbor(x)])]);
  }
  clientData(type, options) {
    // The store decodes the challenge (unpadded base64url) and the browser re-encodes it.
    const challenge = Buffer.from(options.challenge, 'base64url').toString('base64url');
    assert.equal(challenge, options.challenge, 'the challenge is unpadded base64url');
    return Buffer.from(JSON.stringify({ type, challenge, origin: this.origin, crossOrigin: false }));
  }
  authData(rpId, attested) {
    const flags = attested ? 0x41 : 0x01;
    const count = Buffer.alloc(4); count.writeUInt32BE(this.count);
    const parts = [createHash('sha256').update(rpId).digest(), Buffer.from([flags]), count];
    if (attested) {
      const jwk = this.keys.publicKey.export({ format: 'jwk' });
      const len = Buffer.alloc(2); len.writeUInt16BE(this.id.length);
      const cose = SoftKey.cbor(new Map([[1, 2], [3, -7], [-1, 1], [-2, Buffer.from(jwk.x, 'base64url')], [-3, Buffer.from(jwk.y, 'base64url')]]));
      parts.push(Buffer.alloc(16), len, this.id, cose);
    }
    return Buffer.concat(parts);
  }
  create(options) {
    const clientDataJSON = this.clientData('webauthn.create', options);
    const authData = this.authData(options.rp.id, true);
    const attestationObject = SoftKey.cbor({ fmt: 'none', attStmt: {}, authData });
    const id = this.id.toString('base64url');
    return { id, rawId: id, type: 'public-key', authenticatorAttachment: 'cross-platform',
      response: { clientDataJSON: clientDataJSON.toString('base64url'), attestationObject: attestationObject.toString('base64url') } };
  }
  get(options) {
    assert.equal(options.allowCredentials[0].id, this.id.toString('base64url'));
    this.count += 1;
    const clientDataJSON = this.clientData('webauthn.get', options);
    const authenticatorData = this.authData(options.rpId, false);
    const signature = sign('sha256', Buffer.concat([authenticatorData, createHash('sha256').update(clientDataJSON).digest()]), this.keys.privateKey);
    const id = this.id.toString('base64url');
    return { id, rawId: id, type: 'public-key', authenticatorAttachment: 'cross-platform',
      response: { clientDataJSON: clientDataJSON.toString('base64url'), authenticatorData: authenticatorData.toString('base64url'), signature: signature.toString('base64url'), userHandle: null } };
  }
}

/** What redux-store's `isMfaRequired` decides. */
const isMfaRequired = (r) => Boolean(r.mfaRequired && r.mfaToken);

/** `{userId, token}` of the link in a mail. */
function linkParams(text) {
  const line = text.split(/\r?\n/).find((l) => l.includes('userId=') && l.includes('token='));
  assert.ok(line, `a link in:\n${text}`);
  const u = new URL(line.trim());
  return { userId: u.searchParams.get('userId'), token: u.searchParams.get('token') };
}

const claims = (jwt) => JSON.parse(Buffer.from(jwt.split('.')[1], 'base64url').toString('utf8'));

async function rejects(promise, status) {
  try {
    await promise;
  } catch (e) {
    assert.equal(e.statusCode, status, `expected ${status}, got ${e.statusCode}: ${e.message}`);
    return e;
  }
  assert.fail(`expected a ${status} error`);
}

/** The environment's API, as the application's backend calls it (plain fetch, no browser). */
async function management(method, path, body, tenantId, headers = {}) {
  const realFetch = globalThis.__realFetch;
  const auth = await realFetch(`${BASE}/auth/vendor`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ clientId: env('TESSERA_CLIENT_ID'), secret: env('TESSERA_API_KEY') }),
  });
  const { token } = await auth.json();
  const res = await realFetch(`${BASE}${path}`, {
    method,
    headers: {
      'content-type': 'application/json',
      'x-access-token': token,
      ...(tenantId ? { 'frontegg-tenant-id': tenantId } : {}),
      ...headers,
    },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  assert.ok(res.ok, `${method} ${path}: ${res.status} ${text}`);
  return text ? JSON.parse(text) : {};
}

/** A page reload: the access token is gone, the cookie jar stays. */
function reload() {
  context().setAccessToken(null);
  context().setUser(null);
}

// ---- the steps -------------------------------------------------------------------------

const EMAIL = `ada.${Date.now()}@example.com`;
const PASSWORD = 'Choose-a-Pass-1';
const NEW_PASSWORD = 'Another-Pass-2';
const RESET_PASSWORD = 'Third-Pass-3';
const state = {};

const steps = [
  ['boot: vendor public config', async () => {
    const c = await api.auth.getVendorConfig();
    assert.equal(typeof c.allowSignups, 'boolean');
    assert.ok(c.authStrategy, JSON.stringify(c));
  }],
  ['boot: social providers (none yet)', async () => {
    assert.deepEqual(await api.auth.getSocialLoginProvidersV2(), []);
    const custom = await api.auth.getCustomSocialLoginProvidersV1();
    assert.deepEqual(custom.providers, []);
  }],
  ['boot: a custom social provider is listed without its secret', async () => {
    const created = await management('POST', '/identity/resources/sso/custom/v1', {
      type: 'custom', clientId: 'login-box-client', secret: 'never-shown-secret',
      redirectUrl: `${APP_ORIGIN}/account/social/success`,
      authorizationUrl: 'https://idp.example.com/authorize', tokenUrl: 'https://idp.example.com/token',
      userInfoUrl: 'https://idp.example.com/userinfo', scopes: 'openid email',
      ssoLogoUrl: '', displayName: 'Example IdP', active: true,
    });
    const custom = await api.auth.getCustomSocialLoginProvidersV1();
    assert.equal(custom.providers.length, 1, JSON.stringify(custom));
    const [p] = custom.providers;
    assert.equal(p.id, created.id);
    assert.equal(p.displayName, 'Example IdP');
    assert.equal(p.authorizationUrl, 'https://idp.example.com/authorize');
    assert.ok(!JSON.stringify(custom).includes('never-shown-secret'));
    await management('DELETE', `/identity/resources/sso/custom/v1/${created.id}`);
    assert.deepEqual((await api.auth.getCustomSocialLoginProvidersV1()).providers, []);
  }],
  ['boot: public auth strategies and sign-up strategies', async () => {
    const s = await api.auth.getVendorPublicAuthStrategiesConfig();
    assert.equal(s.password?.isActive ?? s.isPasswordEnabled ?? true, true, JSON.stringify(s));
    const up = await api.auth.getSignUpStrategies();
    assert.equal(typeof up, 'object');
  }],
  ['boot: refresh without a session is a 401', async () => {
    await rejects(api.auth.refreshTokenV3(), 401);
  }],
  ['sign-up', async () => {
    const r = await api.auth.signUpUser({ email: EMAIL, password: PASSWORD, companyName: 'Analytical Engines', name: 'Ada' });
    assert.equal(r.shouldActivate, true, JSON.stringify(r));
    state.userId = r.userId;
    state.tenantId = r.tenantId;
  }],
  ['activation from the mailed link logs in', async () => {
    const { userId, token } = linkParams(await mail('activation', EMAIL));
    assert.equal(userId, state.userId);
    const { user, tenants, activeTenant } = await api.auth.activateAccountV2({ userId, token });
    assert.ok(user.accessToken);
    assert.equal(user.email, EMAIL);
    assert.equal(tenants.length, 1);
    assert.equal(activeTenant.tenantId, state.tenantId);
  }],
  ['logout, then password login (v2)', async () => {
    await api.auth.logout();
    reload();
    await rejects(api.auth.refreshTokenV3(), 401);
    const { user, tenants, activeTenant } = await api.auth.loginv2({ email: EMAIL, password: PASSWORD });
    assert.equal(user.mfaRequired, false);
    assert.equal(claims(user.accessToken).sub, state.userId);
    assert.equal(user.email, EMAIL);
    assert.deepEqual(tenants.map((t) => t.tenantId), [state.tenantId]);
    assert.equal(activeTenant.tenantId, state.tenantId);
  }],
  ['login (v1) answers the same user', async () => {
    const user = await api.auth.login({ email: EMAIL, password: PASSWORD });
    assert.equal(user.email, EMAIL);
    assert.ok(user.accessToken);
  }],
  ['me and tenants (v1 shape)', async () => {
    const me = await api.auth.getMeV2();
    assert.equal(me.id, state.userId);
    const v1 = await api.users.getCurrentUserTenantsV1();
    assert.deepEqual(v1.tenants.map((t) => t.tenantId), [state.tenantId]);
    assert.equal(v1.activeTenant.tenantId, state.tenantId);
  }],
  ['reload: the refresh cookie restores the session', async () => {
    reload();
    const { user, activeTenant } = await api.auth.refreshTokenV3();
    assert.equal(claims(user.accessToken).sub, state.userId);
    assert.equal(activeTenant.tenantId, state.tenantId);
  }],
  ['switch account, then refresh issues a token for it', async () => {
    const other = await management('POST', '/tenants/resources/tenants/v1', { name: 'Second Account' });
    state.otherTenant = other.tenantId;
    await management('POST', `/identity/resources/users/v1/${state.userId}/tenant`, { tenantId: state.otherTenant, skipInviteEmail: true }, state.tenantId);
    await api.tenants.switchTenant({ tenantId: state.otherTenant });
    const { user, tenants, activeTenant } = await api.auth.refreshTokenV3();
    assert.equal(claims(user.accessToken).tenantId, state.otherTenant);
    assert.equal(activeTenant.tenantId, state.otherTenant);
    assert.equal(tenants.length, 2);
    await api.tenants.switchTenant({ tenantId: state.tenantId });
    const back = await api.auth.refreshTokenV3();
    assert.equal(claims(back.user.accessToken).tenantId, state.tenantId);
  }],
  ['sessions', async () => {
    const sessions = await api.auth.getCurrentUserSessions();
    assert.ok(sessions.length >= 1, JSON.stringify(sessions));
    const current = await api.auth.getCurrentUserSession();
    assert.ok(current.id, JSON.stringify(current));
  }],
  ['profile', async () => {
    const p = await api.teams.getProfile();
    assert.equal(p.email, EMAIL);
    const updated = await api.teams.updateProfile({ name: 'Ada Lovelace' });
    assert.equal(updated.name, 'Ada Lovelace');
  }],
  ['change password', async () => {
    await api.teams.changePassword({ password: PASSWORD, newPassword: NEW_PASSWORD });
    await api.auth.loginv2({ email: EMAIL, password: NEW_PASSWORD });
  }],
  ['forgot and reset password', async () => {
    await api.auth.forgotPassword({ email: EMAIL });
    const { userId, token } = linkParams(await mail('password-reset', EMAIL));
    await api.auth.resetPassword({ userId, token, password: RESET_PASSWORD });
    await rejects(api.auth.loginv2({ email: EMAIL, password: NEW_PASSWORD }), 401);
    const { user } = await api.auth.loginv2({ email: EMAIL, password: RESET_PASSWORD });
    assert.ok(user.accessToken);
  }],
  ['team: list users with their roles and groups', async () => {
    const { items, _metadata } = await api.users.getUsersV3({ _offset: 0, _limit: 20 });
    assert.equal(_metadata.totalItems, 1);
    assert.equal(items[0].id, state.userId);
    assert.equal(typeof items[0].isDisabled, 'boolean');
    const roles = await api.users.getUsersRoles({ ids: [state.userId] });
    assert.equal(roles[0].userId, state.userId);
    assert.ok(roles[0].roleIds.length >= 1, JSON.stringify(roles));
    const groups = await api.users.getUsersGroups({ ids: [state.userId] });
    assert.deepEqual(groups, [{ userId: state.userId, groupIds: [] }]);
    const available = await api.teams.loadAvailablePermissions();
    assert.ok(available.length > 0);
    const { items: teamRoles } = await api.teams.loadAvailableRoles();
    assert.ok(teamRoles.some((r) => r.id === roles[0].roleIds[0]), JSON.stringify(teamRoles));
  }],
  ['team: add a user, who gets an invitation mail', async () => {
    state.colleague = `grace.${Date.now()}@example.com`;
    const r = await api.teams.addUser({ email: state.colleague, name: 'Grace' });
    state.colleagueId = r.id;
    assert.ok(r.id, JSON.stringify(r));
    const text = await mail('invitation', state.colleague);
    assert.match(text, /userId=/);
    const { items } = await api.users.getUsersV3({ _offset: 0, _limit: 20 });
    assert.equal(items.length, 2);
  }],
  ['team: change the user\'s roles', async () => {
    const { items: teamRoles } = await api.teams.loadAvailableRoles();
    const readOnly = teamRoles.find((r) => r.key === 'ReadOnly');
    assert.ok(readOnly, JSON.stringify(teamRoles));
    const { item } = await api.teams.updateUser({ id: state.colleagueId, roleIds: [readOnly.id] });
    assert.equal(item.id, state.colleagueId);
    let [ur] = await api.users.getUsersRoles({ ids: [state.colleagueId] });
    assert.deepEqual(ur.roleIds, [readOnly.id]);
    // The portal sends [''] for "no roles".
    await api.teams.updateUser({ id: state.colleagueId, roleIds: [''] });
    [ur] = await api.users.getUsersRoles({ ids: [state.colleagueId] });
    assert.deepEqual(ur.roleIds, []);
  }],
  ['team: disable and enable the user', async () => {
    await api.teams.disableUser(state.colleagueId);
    let { items } = await api.users.getUsersV3({ _offset: 0, _limit: 20 });
    assert.equal(items.find((u) => u.id === state.colleagueId).isDisabled, true);
    await api.teams.enableUser(state.colleagueId);
    ({ items } = await api.users.getUsersV3({ _offset: 0, _limit: 20 }));
    assert.equal(items.find((u) => u.id === state.colleagueId).isDisabled, false);
  }],
  ['roles page: categories, create, update, attach permissions, delete', async () => {
    const categories = await api.roles.getPermissionCategories();
    assert.ok(categories.length > 0);
    const permissions = await api.roles.getPermissions();
    const readUsers = permissions.find((p) => p.key === 'fe.secure.read.users');
    assert.ok(readUsers);
    const before = await api.roles.getRoles();
    const admin = before.find((r) => r.key === 'Admin');
    assert.ok(admin, JSON.stringify(before));
    const role = await api.roles.addRoleV2({ key: `auditor-${Date.now()}`, name: 'Auditor', baseRoleId: admin.id, permissionIds: [] });
    assert.ok(role.id, JSON.stringify(role));
    const renamed = await api.roles.updateRole({ roleId: role.id, name: 'Auditors' });
    assert.equal(renamed.name, 'Auditors');
    const attached = await api.roles.attachPermissionsToRole({ roleId: role.id, permissionIds: [readUsers.id] });
    assert.deepEqual(attached.permissions, [readUsers.id]);
    assert.equal((await api.roles.getRoles()).length, before.length + 1);
    await api.roles.deleteRole({ roleId: role.id });
    assert.equal((await api.roles.getRoles()).length, before.length);
  }],
  ['team: remove the user', async () => {
    await api.teams.deleteUser({ userId: state.colleagueId });
    const { items } = await api.users.getUsersV3({ _offset: 0, _limit: 20 });
    assert.deepEqual(items.map((u) => u.id), [state.userId]);
  }],
  ['portal users table: usernames, phone numbers and emails load together', async () => {
    // redux-store's loadUsersV3 enriches the page with these three in one Promise.all.
    const [names, phones, emails] = await Promise.all([
      api.usernames.getUsernamesV1({ userIds: [state.userId].join(',') }),
      api.userPhoneNumbers.getUsersPhoneNumberV2({ userIds: [state.userId].join(',') }),
      api.usersEmails.getUsersEmailsV1({ userIds: [state.userId].join(',') }),
    ]);
    assert.deepEqual(names.items, []);
    assert.deepEqual(phones.items, []);
    assert.deepEqual(emails.items.map((e) => [e.email, e.isPrimary]), [[EMAIL, true]]);
    const policy = await api.userEmailPolicy.getUserEmailPolicyConfig();
    assert.equal(policy.allowEmailChange, true);
  }],
  ['profile: a username', async () => {
    await rejects(api.usernames.getUserOwnUsername(), 404);
    await api.usernames.createUsername({ username: `ada-${state.userId.slice(0, 8)}` });
    const mine = await api.usernames.getUserOwnUsername();
    assert.equal(mine.userId, state.userId);
    state.username = mine.username;
    // The portal's search leaves the prefix undefined.
    const { items } = await api.usernames.getUsernamesV1({ _usernamePrefix: undefined, _offset: 0, _limit: 20 });
    assert.deepEqual(items.map((i) => i.username), [state.username]);
  }],
  ['profile: a login phone number, proven by a texted code', async () => {
    state.phone = '+15550107070';
    const sent = await caused('sms', 'phone-code', state.phone, () => api.userPhoneNumbers.createPhoneNumber({ phoneNumber: state.phone }));
    assert.ok(sent.result.otcToken, JSON.stringify(sent.result));
    let [p] = await api.userPhoneNumbers.getUserOwnPhoneNumbers();
    assert.equal(p.verified, false);
    await api.userPhoneNumbers.verifyPhoneNumber({ otcToken: sent.result.otcToken, code: sixDigits(sent.text) });
    [p] = await api.userPhoneNumbers.getUserOwnPhoneNumbers();
    assert.deepEqual([p.phoneNumber, p.verified], [state.phone, true]);
    const { items } = await api.userPhoneNumbers.getUserPhoneNumbers({ _limit: 10, _offset: 0 });
    assert.equal(items.length, 1);
  }],
  ['team: an invitation link, verified by the login box, used by a sign-up', async () => {
    const config = await api.teams.getInviteLinkConfiguration();
    assert.equal(config.tenantInvitationsAllowed, true);
    const link = await api.teams.createInviteUserLinkV2({ expiresInMinutes: 60, shouldSendEmail: true, roleIds: [] });
    assert.ok(link.token, JSON.stringify(link));
    assert.equal((await api.teams.getInviteUserLink()).token, link.token);
    await api.teams.updateInviteUserLink({ expiresInMinutes: 120 });
    const seen = await api.auth.verifyInviteToken({ token: link.token });
    assert.equal(seen.name, 'Analytical Engines');
    // A newcomer signs up through it and joins this account.
    const joiner = `joiner.${Date.now()}@example.com`;
    const r = await api.auth.signUpUser({ email: joiner, password: PASSWORD, companyName: 'Own', invitationToken: link.token });
    const user = await management('GET', `/identity/resources/users/v1/${r.userId}`, null, state.tenantId);
    assert.ok(user.tenantIds.includes(state.tenantId), JSON.stringify(user));
    await api.teams.deleteInviteUserLink();
    await rejects(api.auth.verifyInviteToken({ token: link.token }), 404);
  }],
  ['team: invite an existing user by email, who accepts from the mailed link', async () => {
    const home = await management('POST', '/tenants/resources/tenants/v1', { name: 'Elsewhere' });
    state.member = `mary.${Date.now()}@example.com`;
    const m = await management('POST', '/identity/resources/users/v1', { email: state.member, password: PASSWORD }, home.tenantId);
    await management('POST', `/identity/resources/users/v1/${m.id}/verify`);
    state.memberId = m.id;
    const added = await api.teams.addUser({ email: state.member, name: 'Mary' });
    assert.equal(added.id, m.id);
    await mail('invitation-accept', state.member);
    let { items } = await api.users.getUsersV3({ _offset: 0, _limit: 20 });
    assert.equal(items.find((u) => u.id === m.id).isDisabled, true, 'pending until accepted');
    // "Resend invitation": the earlier link stops working.
    const first = linkParams(await mail('invitation-accept', state.member));
    const again = await caused('eml', 'invitation-accept', state.member, () => api.auth.resendInvitationEmail({ email: state.member }));
    await rejects(api.auth.acceptInvitation(first), 404);
    await api.auth.acceptInvitation(linkParams(again.text));
    ({ items } = await api.users.getUsersV3({ _offset: 0, _limit: 20 }));
    assert.equal(items.find((u) => u.id === m.id).isDisabled, false);
  }],
  ['team: a temporary user, then permanent again', async () => {
    assert.deepEqual(await api.teams.getTemporaryUserConfiguration(), { enabled: false });
    await management('PUT', '/identity/resources/users/temporary/v1/configuration', { enabled: true });
    const r = await api.teams.updateUserExpirationTime({ userId: state.memberId, expirationInSeconds: 86400 });
    assert.ok(new Date(r.temporaryExpirationDate) > new Date(), JSON.stringify(r));
    await api.teams.setPermanentUser(state.memberId);
    const u = await management('GET', `/identity/resources/users/v1/${state.memberId}`, null, state.tenantId);
    assert.equal(u.temporaryExpirationDate, undefined);
  }],
  ['API tokens: the user\'s and the account\'s', async () => {
    const mine = await api.auth.updateUserApiTokensData({ description: 'ci' });
    assert.ok(mine.clientId && mine.secret, JSON.stringify(mine));
    assert.equal((await api.auth.getUserApiTokensData()).length, 1);
    await api.auth.deleteUserApiToken({ tokenId: mine.clientId });
    assert.equal((await api.auth.getUserApiTokensData()).length, 0);
    const ours = await api.auth.updateTenantApiTokensData({ description: 'deploys', roleIds: [] });
    assert.ok(ours.clientId && ours.secret, JSON.stringify(ours));
    assert.equal((await api.auth.getTenantApiTokensData()).length, 1);
    await api.auth.deleteTenantApiToken({ tokenId: ours.clientId });
    assert.equal((await api.auth.getTenantApiTokensData()).length, 0);
  }],
  ['IP restrictions: config, bulk, list by strategy, delete', async () => {
    await api.securityPolicy.updateIPRestrictionConfig({ strategy: 'BLOCK', isActive: false });
    const config = await api.securityPolicy.getIPRestrictionsConfig();
    assert.equal(config.strategy, 'BLOCK');
    await api.securityPolicy.bulkCreateIPRestriction({
      ips: [
        { ip: '203.0.113.7', strategy: 'BLOCK', isActive: true, description: 'scanner' },
        { ip: '198.51.100.0/24', strategy: 'ALLOW', isActive: true, description: 'office' },
      ],
    });
    await api.securityPolicy.createIPRestriction({ ip: '192.0.2.1', strategy: 'BLOCK', isActive: true, description: 'one' });
    const blocked = await api.securityPolicy.getIPRestrictions({ _limit: 10, _offset: 0, _filter: 'BLOCK' });
    assert.deepEqual(blocked.items.map((r) => r.ip).sort(), ['192.0.2.1/32', '203.0.113.7/32']);
    const allowed = await api.securityPolicy.getIPRestrictions({ _limit: 10, _offset: 0, _filter: 'ALLOW' });
    assert.deepEqual(allowed.items.map((r) => r.ip), ['198.51.100.0/24']);
    for (const r of [...blocked.items, ...allowed.items]) await api.securityPolicy.deleteIPRestriction(r.id);
    const left = await api.securityPolicy.getIPRestrictions({ _limit: 10, _offset: 0 });
    assert.equal(left.items.length, 0);
    // The portal's "test my address" buttons: bodiless POSTs with a JSON content type.
    await api.securityPolicy.testCurrentIp();
    await api.securityPolicy.testCurrentIpInAllowList();
  }],
  ['security page', async () => {
    const global = await api.securityPolicy.getGlobalSecurityPolicy();
    assert.equal(typeof global, 'object');
    // An account that never set a policy has none in force (404, which the page shows as
    // "off"); turning it on creates the account's own, which the next read returns.
    for (const [get, save, body, check] of [
      ['getLockoutPolicy', 'saveLockoutPolicy', { enabled: true, maxAttempts: 7 }, (p) => p.maxAttempts === 7],
      ['getPasswordHistoryPolicy', 'savePasswordHistoryPolicy', { enabled: true, historySize: 3 }, (p) => p.historySize === 3],
    ]) {
      await rejects(api.securityPolicy[get](), 404);
      await api.securityPolicy[save](body);
      const saved = await api.securityPolicy[get]();
      assert.ok(saved.enabled && check(saved), JSON.stringify(saved));
      await api.securityPolicy[save]({ ...saved, enabled: false });
      assert.equal((await api.securityPolicy[get]()).enabled, false);
    }
  }],
  ['portal: MFA page before any factor', async () => {
    const { strategies } = await api.auth.getMFAStrategiesConfig();
    assert.deepEqual(strategies.filter((s) => s.isActive).map((s) => s.strategy), ['AuthenticatorApp']);
    assert.deepEqual(await api.auth.getMFADevices(), { webauthn: [], phones: [], authenticators: [], emails: [] });
    await rejects(api.securityPolicy.getMfaPolicy(), 404);
    await rejects(api.securityPolicy.getVendorMfaPolicy(), 404);
  }],
  ['security page: the account forces MFA and allows remembering devices', async () => {
    await api.securityPolicy.saveMfaPolicy({ enforceMFAType: 'Force' });
    const saved = await api.securityPolicy.getMfaPolicy();
    assert.ok(saved.id, JSON.stringify(saved));
    await api.securityPolicy.saveMfaPolicy({ ...saved, allowRememberMyDevice: true, mfaDeviceExpiration: 86400 });
    const again = await api.securityPolicy.getMfaPolicy();
    assert.equal(again.allowRememberMyDevice, true);
    assert.equal(again.enforceMFAType, 'Force');
  }],
  ['login: MFA required, force-enrol an authenticator app', async () => {
    await api.auth.logout();
    reload();
    const { user } = await api.auth.loginv2({ email: EMAIL, password: RESET_PASSWORD });
    assert.ok(isMfaRequired(user), JSON.stringify(user));
    assert.equal(user.accessToken, undefined);
    assert.equal(user.mfaEnrolled, false);
    assert.deepEqual(user.mfaStrategies, ['AuthenticatorApp']);
    assert.match(user.qrCode, /^data:image\/(png|svg\+xml);base64,/);
    const remember = await api.auth.checkIfAllowToRememberMfaDevice(user.mfaToken);
    assert.deepEqual(remember, { isAllowedToRemember: true, mfaDeviceExpiration: 86400 });
    state.secret = user.secret;
    const done = await api.auth.enrollMFAAuthenticatorAppForLoginV2({ mfaToken: user.mfaToken, token: totp(state.secret) });
    assert.ok(done.user.accessToken);
    assert.ok(done.user.recoveryCode?.length >= 8, JSON.stringify(done.user));
    state.recoveryCode = done.user.recoveryCode;
    assert.ok(claims(done.user.accessToken).amr.includes('mfa'));
    assert.equal(done.activeTenant.tenantId, state.tenantId);
  }],
  ['login: the method picker, then an email code', async () => {
    await management('POST', '/identity/resources/configurations/v1/mfa/strategies', { strategy: 'EmailCode', isActive: true });
    await api.auth.logout();
    reload();
    const { user } = await api.auth.loginv2({ email: EMAIL, password: RESET_PASSWORD });
    assert.ok(isMfaRequired(user));
    const d = user.mfaDevices;
    assert.equal(d.webauthn.length + d.phones.length, 0);
    assert.equal(d.authenticators.length, 1);
    assert.deepEqual(d.emails, [{ email: EMAIL }]);
    const { result: { otcToken }, text } = await caused('eml', 'mfa-email-code', EMAIL, () => api.auth.preVerifyMFAEmailCode({ mfaToken: user.mfaToken }));
    const done = await api.auth.verifyMFAEmailCode({ mfaToken: user.mfaToken, otcToken, code: sixDigits(text) });
    assert.ok(done.accessToken, JSON.stringify(done));
  }],
  ['login with the authenticator app, remembering the device', async () => {
    await api.auth.logout();
    reload();
    const { user } = await api.auth.loginv2({ email: EMAIL, password: RESET_PASSWORD });
    assert.ok(isMfaRequired(user));
    await rejects(api.auth.loginWithMfaV2({ mfaToken: user.mfaToken, value: '000000' }), 400);
    const done = await api.auth.loginWithMfaV2({ mfaToken: user.mfaToken, value: totp(state.secret, 1), rememberDevice: true });
    assert.ok(done.user.accessToken);
    assert.equal(claims(done.user.accessToken).acr, 'http://schemas.openid.net/pape/policies/2007/06/multi-factor');
  }],
  ['a remembered device skips MFA', async () => {
    await api.auth.logout();
    reload();
    const { user } = await api.auth.loginv2({ email: EMAIL, password: RESET_PASSWORD });
    assert.ok(user.accessToken, JSON.stringify(user));
    assert.equal(user.mfaRequired, false);
  }],
  ['step-up with an email code', async () => {
    const up = await api.auth.generateStepupSession({ maxAge: 60 });
    assert.ok(up.mfaToken && up.mfaDevices.authenticators.length === 1, JSON.stringify(up));
    const { result: { otcToken }, text } = await caused('eml', 'mfa-email-code', EMAIL, () => api.auth.preVerifyMFAEmailCode({ mfaToken: up.mfaToken }));
    const done = await api.auth.verifyMFAEmailCode({ mfaToken: up.mfaToken, otcToken, code: sixDigits(text) });
    const c = claims(done.accessToken);
    assert.ok(c.amr.includes('mfa') && c.auth_time > 0, JSON.stringify(c));
    context().setAccessToken(done.accessToken);
  }],
  ['portal: enrol and remove a phone for SMS codes', async () => {
    await management('POST', '/identity/resources/configurations/v1/mfa/strategies', { strategy: 'SMS', isActive: true });
    const phone = '+15550104242';
    const sent = await caused('sms', 'mfa-sms-code', phone, () => api.auth.preEnrollMFASMS({ phoneNumber: phone }));
    await api.auth.enrollMFASMS({ otcToken: sent.result.otcToken, code: sixDigits(sent.text) });
    let devices = await api.auth.getMFADevices();
    assert.deepEqual(devices.phones.map((p) => p.phoneNumber), [phone]);
    const id = devices.phones[0].id;
    const pre = await caused('sms', 'mfa-sms-code', phone, () => api.auth.preDisableMFASMS(id));
    await api.auth.disableMFASMS(id, { otcToken: pre.result.otcToken, code: sixDigits(pre.text) });
    devices = await api.auth.getMFADevices();
    assert.equal(devices.phones.length, 0);
    assert.equal(devices.authenticators.length, 1);
  }],
  ['lost device: the recovery code turns MFA off', async () => {
    await api.auth.recoverMfaToken({ email: EMAIL, recoveryCode: state.recoveryCode });
    reload();
    await rejects(api.auth.refreshTokenV3(), 401);
    // The account still forces MFA and the remembered device is forgotten: with the app gone,
    // the email code is what is left.
    const { user } = await api.auth.loginv2({ email: EMAIL, password: RESET_PASSWORD });
    assert.ok(isMfaRequired(user));
    assert.equal(user.mfaDevices.authenticators.length, 0);
    assert.deepEqual(user.mfaDevices.emails, [{ email: EMAIL }]);
    const { result: { otcToken }, text } = await caused('eml', 'mfa-email-code', EMAIL, () => api.auth.preVerifyMFAEmailCode({ mfaToken: user.mfaToken }));
    const done = await api.auth.verifyMFAEmailCode({ mfaToken: user.mfaToken, otcToken, code: sixDigits(text) });
    assert.ok(done.accessToken);
    context().setAccessToken(done.accessToken);
  }],
  ['portal: register a security key, log in with it, remove it', async () => {
    await management('POST', '/identity/resources/configurations/v1/mfa/strategies', { strategy: 'WebAuthnCrossPlatform', isActive: true });
    const key = new SoftKey(APP_ORIGIN);
    const pre = await api.auth.preEnrollMFAWebAuthn();
    assert.equal(pre.options.rp.id, new URL(APP_ORIGIN).hostname, JSON.stringify(pre.options));
    await api.auth.enrollMFAWebAuthn({ webauthnToken: pre.webauthnToken, deviceType: 'CrossPlatform', options: key.create(pre.options), publicKey: {} });
    const devices = await api.auth.getMFADevices();
    assert.equal(devices.webauthn.length, 1, JSON.stringify(devices));
    const deviceId = devices.webauthn[0].id;
    await api.auth.logout();
    reload();
    const { user } = await api.auth.loginv2({ email: EMAIL, password: RESET_PASSWORD });
    assert.ok(isMfaRequired(user));
    assert.deepEqual(user.mfaDevices.webauthn.map((d) => d.deviceType), ['CrossPlatform']);
    const verify = await api.auth.preVerifyMFAWebAuthnForLogin(deviceId, { mfaToken: user.mfaToken });
    const done = await api.auth.verifyMFAWebAuthnForLogin(deviceId, { mfaToken: user.mfaToken, webauthnToken: verify.webauthnToken, options: key.get(verify.options), publicKey: {} });
    assert.ok(claims(done.accessToken).amr.includes('hwk'), JSON.stringify(done));
    context().setAccessToken(done.accessToken);
    // The account forces MFA: the last factor stays until the policy allows going without.
    let off = await api.auth.preDisableMFAWebAuthn(deviceId);
    await rejects(api.auth.disableMFAWebAuthn(deviceId, { webauthnToken: off.webauthnToken, options: key.get(off.options), publicKey: {} }), 400);
    const policy = await api.securityPolicy.getMfaPolicy();
    await api.securityPolicy.saveMfaPolicy({ ...policy, enforceMFAType: 'DontForce' });
    off = await api.auth.preDisableMFAWebAuthn(deviceId);
    await api.auth.disableMFAWebAuthn(deviceId, { webauthnToken: off.webauthnToken, options: key.get(off.options), publicKey: {} });
    assert.equal((await api.auth.getMFADevices()).webauthn.length, 0);
  }],
  ['login box: a magic link', async () => {
    await management('POST', '/identity/resources/configurations/v1', { authStrategy: 'MagicLink' });
    await api.auth.logout();
    reload();
    assert.equal((await api.auth.getVendorConfig()).authStrategy, 'MagicLink');
    const sent = await caused('eml', 'magic-link', EMAIL, () => api.auth.passwordlessPreLogin({ type: 'MagicLink', email: EMAIL, username: '' }));
    // The page the link opens reads `token` from its URL and posts it.
    const link = new URL(sent.text.split(/\r?\n/).find((l) => l.includes('magic-link?token=')).trim());
    const { user } = await api.auth.passwordlessPostLoginV2({ type: 'MagicLink', token: link.searchParams.get('token') });
    assert.equal(claims(user.accessToken).sub, state.userId);
    await rejects(api.auth.passwordlessPostLoginV2({ type: 'MagicLink', token: link.searchParams.get('token') }), 400);
  }],
  ['login box: an email code, bound to this browser', async () => {
    await management('POST', '/identity/resources/configurations/v1', { authStrategy: 'Code' });
    await api.auth.logout();
    reload();
    const sent = await caused('eml', 'login-code', EMAIL, () => api.auth.passwordlessPreLogin({ type: 'Code', email: EMAIL, username: '' }));
    // The login box posts only the code: the fe_pwl_ cookie names the pending login.
    const { user } = await api.auth.passwordlessPostLoginV2({ type: 'Code', token: sixDigits(sent.text) });
    assert.equal(claims(user.accessToken).sub, state.userId);
  }],
  ['login box: an SMS code to the verified login phone', async () => {
    await management('POST', '/identity/resources/configurations/v1', { authStrategy: 'SmsCode' });
    await api.auth.logout();
    reload();
    const sent = await caused('sms', 'sms-login-code', state.phone, () => api.auth.passwordlessPreLogin({ type: 'SmsCode', phoneNumber: state.phone }));
    assert.equal(sent.result.phoneNumber, state.phone);
    const { user } = await api.auth.passwordlessPostLoginV2({ type: 'SmsCode', token: sixDigits(sent.text) });
    assert.equal(claims(user.accessToken).sub, state.userId);
    await management('POST', '/identity/resources/configurations/v1', { authStrategy: 'EmailAndPassword' });
  }],
  ['login box: the captcha policy (public read, then a login without a token refused)', async () => {
    assert.equal(await api.auth.getCaptchaPolicy(), null, 'no policy: captcha off');
    const policy = { enabled: true, siteKey: 'site-key-lb', secretKey: 'secret-key-lb', minScore: 0.5 };
    await management('POST', '/identity/resources/configurations/v1/captcha-policy', policy);
    const read = await api.auth.getCaptchaPolicy();
    assert.equal(read.siteKey, 'site-key-lb');
    assert.equal(read.enabled, true);
    assert.ok(!JSON.stringify(read).includes('secret'), JSON.stringify(read));
    await rejects(api.auth.loginv2({ email: EMAIL, password: RESET_PASSWORD }), 400);
    await management('PUT', '/identity/resources/configurations/v1/captcha-policy', { ...policy, enabled: false });
    const { user } = await api.auth.loginv2({ email: EMAIL, password: RESET_PASSWORD });
    context().setAccessToken(user.accessToken);
  }],
  ['portal: the applications a user is assigned to', async () => {
    assert.deepEqual(await api.applications.getUserApplicationsId({ userId: state.userId }), []);
    await management('POST', '/identity/resources/applications/v1', { appId: 'crm', tenantId: state.tenantId, userIds: [state.userId] });
    assert.deepEqual(await api.applications.getUserApplicationsId({ userId: state.userId }), ['crm']);
  }],
  ['approver page: the mailed request, decided once', async () => {
    const approver = `approver.${Date.now()}@example.com`;
    const flow = await management('POST', '/identity/resources/approval-flows/v1', {
      name: 'Refund', channels: { email: true, sms: false }, configuration: { timeoutMinutes: 60 },
      steps: [{ stepOrder: 1, approverSelectors: { emails: [approver] }, configuration: { minApprovals: 1 } }],
    }, state.tenantId);
    // The application's backend asks on the signed-in user's behalf.
    const sent = await caused('eml', 'approval-request', approver, () => management('POST', `/identity/resources/approval-flows/v1/${flow.id}/execute`, { executionData: { amount: 70 } }, state.tenantId, { 'frontegg-user-id': state.userId }));
    const [, approvalFlowExecutionId, approverId, approvalFlowStepId] = sent.text.match(/approvalFlowExecutionId=([^&\s]+)&approverId=([^&\s]+)&approvalFlowStepId=([^&\s)]+)/);
    const ids = { approvalFlowExecutionId, approverId, approvalFlowStepId };
    const data = await api.auth.getApprovalExecutionData(ids);
    assert.equal(data.approvalFlowName, 'Refund');
    assert.equal(data.requester, EMAIL);
    assert.equal(data.executionData.amount, 70);
    assert.deepEqual(await api.auth.submitApprovalAction({ ...ids, approved: true }), { success: true });
    await rejects(api.auth.submitApprovalAction({ ...ids, approved: false }), 404);
  }],
  ['profile: change the email with a code sent to the new address', async () => {
    const next = `ada.new.${Date.now()}@example.com`;
    const sent = await caused('eml', 'email-code', next, () => api.teams.updateEmail(next));
    await api.teams.verifyEmail(next, sixDigits(sent.text));
    await mail('email-changed', EMAIL);
    // The portal refreshes and expects the new address.
    const { user } = await api.auth.refreshTokenV3();
    assert.equal(claims(user.accessToken).email, next);
    await rejects(api.auth.loginv2({ email: EMAIL, password: RESET_PASSWORD }), 401);
    await api.auth.loginv2({ email: next, password: RESET_PASSWORD });
  }],
  ['logout ends the session', async () => {
    await api.auth.logout();
    reload();
    await rejects(api.auth.refreshTokenV3(), 401);
  }],
];

globalThis.__realFetch = Browser.realFetch;
let failed = false;
for (const [name, run] of steps) {
  try {
    await run();
    console.log(`ok ${name}`);
  } catch (e) {
    console.log(`FAIL ${name}: ${e?.stack || e}`);
    console.log(`  requests so far:\n    ${browser.log.slice(-8).join('\n    ')}`);
    failed = true;
    break;
  }
}
process.exit(failed ? 1 : 0);
