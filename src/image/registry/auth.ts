/**
 * Registry authentication as docker does it. A request without credentials
 * gets 401 and a WWW-Authenticate challenge; for "Bearer" we fetch a token
 * from the challenge's realm (service, scope repository:<repo>:pull, or
 * :pull,push for a push, with repository:<other>:pull for the repositories a
 * push mounts blobs from; Basic credentials when we have them, anonymously
 * otherwise: Docker Hub gives anonymous pull tokens), for "Basic" we send the
 * credentials themselves.
 * The answer is kept and sent with the following requests; a later 401 (the
 * token expired) starts over once.
 */
import { RegistryError } from './errors';
import { discard, readBody, send } from './transport';
import { findCredentials, type CredentialLookup, type Credentials } from './credentials';

export interface Challenge {
  /** Lowercase: "bearer", "basic". */
  scheme: string;
  /** Parameter names lowercased, values unquoted. */
  params: Record<string, string>;
}

const TOKEN = /[!#$%&'*+.^_`|~0-9A-Za-z-]+/y;

/**
 * Parses WWW-Authenticate (RFC 7235): one or more challenges, each a scheme
 * and comma-separated parameters whose values may be quoted strings with
 * backslash escapes, e.g. `Bearer realm="https://auth.example/token",
 * service="registry.example",scope="repository:a/b:pull"`.
 */
export function parseChallenges(header: string | string[] | undefined): Challenge[] {
  const text = Array.isArray(header) ? header.join(', ') : (header ?? '');
  const out: Challenge[] = [];
  let i = 0;
  const skip = (chars: RegExp) => {
    while (i < text.length && chars.test(text[i])) i++;
  };
  const token = (): string | undefined => {
    TOKEN.lastIndex = i;
    const m = TOKEN.exec(text);
    if (!m) return undefined;
    i += m[0].length;
    return m[0];
  };
  while (i < text.length) {
    skip(/[\s,]/);
    const scheme = token();
    if (!scheme) {
      if (i < text.length) i++; // not a token: skip it
      continue;
    }
    const challenge: Challenge = { scheme: scheme.toLowerCase(), params: {} };
    out.push(challenge);
    for (;;) {
      skip(/[\s,]/);
      const start = i;
      const name = token();
      if (!name) break;
      skip(/[ \t]/);
      if (text[i] !== '=') {
        i = start; // a token without "=": the next challenge's scheme
        break;
      }
      i++;
      skip(/[ \t]/);
      let value = '';
      if (text[i] === '"') {
        for (i++; i < text.length && text[i] !== '"'; i++) {
          if (text[i] === '\\' && i + 1 < text.length) i++;
          value += text[i];
        }
        i++;
      } else {
        value = token() ?? '';
      }
      challenge.params[name.toLowerCase()] = value;
    }
  }
  return out;
}

/**
 * Scopes as the token server is asked for them: one per resource, with the
 * actions of every request for it ("repository:a:pull,push" and a
 * challenge's "repository:a:pull" make "repository:a:pull,push").
 */
export function mergeScopes(scopes: string[]): string[] {
  const actions = new Map<string, string[]>();
  for (const s of scopes) {
    if (!s) continue;
    const colon = s.lastIndexOf(':');
    // Not type:name:actions (a registry's own scope syntax): passed on as it is.
    const [resource, list] = colon > s.indexOf(':') && s.indexOf(':') > 0 ? [s.slice(0, colon), s.slice(colon + 1).split(',')] : [s, []];
    const have = actions.get(resource) ?? [];
    for (const a of list) if (a && !have.includes(a)) have.push(a);
    actions.set(resource, have);
  }
  return [...actions].map(([resource, list]) => (list.length ? `${resource}:${list.join(',')}` : resource));
}

export interface AuthOptions {
  /** The registry, as the user names it, for messages. */
  registry: string;
  verifyTls: boolean;
  /** Given credentials (nook login); otherwise they are looked up in the auth files when a challenge needs them. */
  credentials?: Credentials;
  authFile?: string;
  /** Send account=<user> to the token server, as `docker login` does. */
  login?: boolean;
}

const TOKEN_BODY_LIMIT = 1 << 20;

export class Authenticator {
  private authorization?: string;
  private scheme?: 'basic' | 'bearer';
  private lookup?: CredentialLookup;
  private pending?: Promise<void>;

  constructor(private readonly opts: AuthOptions) {}

  /** The Authorization header value to send, if any. */
  header(): string | undefined {
    return this.authorization;
  }

  /** The credentials in use (given, or found in an auth file), if any. */
  credentials(): Credentials | undefined {
    if (this.opts.credentials) return this.opts.credentials;
    this.lookup ??= findCredentials(this.opts.registry, this.opts.authFile);
    return this.lookup.credentials;
  }

  /**
   * Answers a 401's WWW-Authenticate, so that header() holds what the
   * registry asks for. Parallel requests (layer downloads) that are refused
   * together share one answer instead of each fetching a token: the one
   * being fetched, or the one fetched since the refused request was sent
   * (`sentWith` is the header it carried), which it has not tried yet.
   */
  respond(wwwAuthenticate: string | string[] | undefined, scope: string | string[] | undefined, what: string, sentWith: string | undefined): Promise<void> {
    if (!this.pending && this.authorization !== undefined && this.authorization !== sentWith) return Promise.resolve();
    if (!this.pending) {
      this.pending = this.answer(wwwAuthenticate, scope, what).finally(() => {
        this.pending = undefined;
      });
    }
    return this.pending;
  }

  private async answer(wwwAuthenticate: string | string[] | undefined, scope: string | string[] | undefined, what: string): Promise<void> {
    const challenges = parseChallenges(wwwAuthenticate);
    const bearer = challenges.find((c) => c.scheme === 'bearer');
    if (bearer) return this.fetchToken(bearer.params, scope, what);
    if (challenges.some((c) => c.scheme === 'basic')) {
      const creds = this.credentials();
      if (!creds) throw this.denied(401, what);
      this.scheme = 'basic';
      this.authorization = `Basic ${Buffer.from(`${creds.username}:${creds.password}`).toString('base64')}`;
      return;
    }
    throw new RegistryError(
      `${this.opts.registry} asks for authentication nook does not support (WWW-Authenticate: ${wwwAuthenticate ? String(wwwAuthenticate) : 'missing'})`,
      { hint: 'nook supports the Bearer token and Basic schemes that registries use' },
    );
  }

  private async fetchToken(params: Record<string, string>, scope: string | string[] | undefined, what: string): Promise<void> {
    const registry = this.opts.registry;
    let url: URL;
    try {
      url = new URL(params.realm ?? '');
    } catch {
      throw new RegistryError(`${registry} sent a Bearer challenge without a valid realm (${JSON.stringify(params.realm ?? '')})`);
    }
    if (url.protocol !== 'https:' && url.protocol !== 'http:')
      throw new RegistryError(`${registry} names an unsupported token server: ${url.href}`);
    if (url.protocol === 'http:' && this.opts.verifyTls)
      throw new RegistryError(`${registry} names a plain-HTTP token server: ${url.href}`, {
        hint: `credentials and tokens would cross the network unprotected; if that is intended, treat ${registry} as insecure (--tls-verify=false)`,
      });
    if (params.service) url.searchParams.set('service', params.service);
    // A challenge names several scopes separated by spaces (distribution does, for a cross-repository mount).
    for (const s of mergeScopes([scope ?? [], (params.scope ?? '').split(' ')].flat())) url.searchParams.append('scope', s);
    const creds = this.credentials();
    if (creds && this.opts.login) url.searchParams.set('account', creds.username);
    const basic = creds ? `Basic ${Buffer.from(`${creds.username}:${creds.password}`).toString('base64')}` : undefined;

    const res = await send(url, { authorization: basic, verifyTls: this.opts.verifyTls });
    if (res.status === 401 || res.status === 403) {
      discard(res);
      if (creds)
        throw new RegistryError(`${registry} refused the login of ${creds.username}: incorrect username or password`, {
          status: res.status,
          hint: this.credentialsHint(creds),
        });
      throw this.denied(res.status, what);
    }
    if (res.status === 429 || res.status >= 500) {
      discard(res);
      throw new RegistryError(`the token server of ${registry} (${url.host}) answered ${res.status}`, { retryable: true, status: res.status });
    }
    const body = await readBody(res, TOKEN_BODY_LIMIT);
    let token: unknown;
    try {
      const doc = JSON.parse(body.toString());
      token = doc.token || doc.access_token;
    } catch {
      /* reported below */
    }
    if (res.status !== 200 || typeof token !== 'string' || !token)
      throw new RegistryError(`the token server of ${registry} (${url.origin}${url.pathname}) sent no token (HTTP ${res.status})`, {
        hint: `check that ${registry} is a container registry and its token server works`,
      });
    this.scheme = 'bearer';
    this.authorization = `Bearer ${token}`;
  }

  private credentialsHint(creds: Credentials): string {
    if (this.opts.login) return 'check the user name and the password (or access token)';
    return `the credentials come from ${creds.source}; log in again with \`nook login ${this.opts.registry}\``;
  }

  private helperNote(): string | undefined {
    try {
      this.lookup ??= findCredentials(this.opts.registry, this.opts.authFile);
      return this.lookup.helperNote;
    } catch {
      return undefined; // an unreadable auth file: the access error matters more here
    }
  }

  /**
   * The error for a 401/403: for anonymous requests the repository may not
   * exist or may need a login (registries do not say which, to not reveal
   * private names); with credentials, say whose were refused.
   */
  denied(status: number, what: string, detail?: string): RegistryError {
    const registry = this.opts.registry;
    const creds = this.authorization ? this.credentials() : undefined;
    const why = detail ? ` (${detail})` : '';
    if (creds && this.scheme === 'basic' && status === 401)
      return new RegistryError(`${registry} refused the login of ${creds.username}: incorrect username or password`, {
        status,
        hint: this.credentialsHint(creds),
      });
    if (creds)
      return new RegistryError(`${registry}: access to ${what} denied for ${creds.username}${why}`, {
        status,
        hint: `check the name, and that this account may pull it (the credentials come from ${creds.source})`,
      });
    const note = this.opts.credentials ? undefined : this.helperNote();
    return new RegistryError(`${registry}: access to ${what} denied${why}`, {
      status,
      hint: `it may not exist, or it may need a login: \`nook login ${registry}\`${note ? `; note: ${note}` : ''}`,
    });
  }
}
