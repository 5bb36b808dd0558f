// What a browser adds around `fetch` for a page on APP_ORIGIN calling another origin, for the
// real, unmodified @frontegg/rest-api running in Node: the `Origin` header, the CORS
// preflight of every non-simple request, the CORS checks on each reply (a reply the browser
// would hide is a `TypeError`, as `fetch` throws in a page), and a cookie jar with the
// browser's rules (HttpOnly cookies are sent, never readable; `Secure` only on https or
// loopback; `SameSite` other than `None` stays home on cross-site requests; `Max-Age=0`
// deletes). Plus `window.location`, which rest-api navigates on a 302 — an error here.

const realFetch = globalThis.fetch;

// https://fetch.spec.whatwg.org/#cors-safelisted-request-header
function safelisted(name, value) {
  const n = name.toLowerCase();
  if (['accept', 'accept-language', 'content-language'].includes(n)) return true;
  if (n === 'content-type') {
    const essence = value.split(';')[0].trim().toLowerCase();
    return ['application/x-www-form-urlencoded', 'multipart/form-data', 'text/plain'].includes(essence);
  }
  return false;
}

const loopback = (host) => host === 'localhost' || host === '127.0.0.1' || host === '[::1]';

function siteOf(url) {
  const u = new URL(url);
  // Registrable domain is enough for loopback tests: the host itself.
  return `${u.protocol}//${u.hostname}`;
}

export class Browser {
  static realFetch = realFetch;

  constructor(appOrigin) {
    this.appOrigin = appOrigin;
    this.cookies = new Map(); // `${host} ${name}` -> {name, value, path, secure, sameSite, host}
    this.log = [];
  }

  cookieHeader(url) {
    const u = new URL(url);
    const crossSite = siteOf(url) !== siteOf(this.appOrigin);
    const out = [];
    for (const c of this.cookies.values()) {
      if (c.host !== u.hostname && !(c.domain && (u.hostname === c.domain || u.hostname.endsWith(`.${c.domain}`)))) continue;
      if (!u.pathname.startsWith(c.path)) continue;
      if (c.secure && u.protocol !== 'https:' && !loopback(u.hostname)) continue;
      if (crossSite && c.sameSite !== 'none') continue;
      out.push(`${c.name}=${c.value}`);
    }
    return out.join('; ');
  }

  store(url, setCookies) {
    const u = new URL(url);
    for (const line of setCookies) {
      const [pair, ...attrs] = line.split(';');
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      const c = { name, value, path: '/', secure: false, sameSite: 'lax', host: u.hostname, domain: null };
      let maxAge = null;
      for (const a of attrs) {
        const [k, v = ''] = a.split('=');
        const key = k.trim().toLowerCase();
        if (key === 'path') c.path = v.trim();
        if (key === 'secure') c.secure = true;
        if (key === 'samesite') c.sameSite = v.trim().toLowerCase();
        if (key === 'max-age') maxAge = Number(v.trim());
        if (key === 'domain') c.domain = v.trim().replace(/^\./, '').toLowerCase();
      }
      // Browsers refuse Secure cookies from insecure origins (loopback counts as secure) and
      // SameSite=None without Secure.
      if (c.secure && u.protocol !== 'https:' && !loopback(u.hostname)) continue;
      if (c.sameSite === 'none' && !c.secure) continue;
      const key = `${u.hostname} ${name}`;
      if (maxAge !== null && maxAge <= 0) this.cookies.delete(key);
      else this.cookies.set(key, c);
    }
  }

  /** A fetch as a page on appOrigin makes it. */
  fetch = async (url, init = {}) => {
    const method = (init.method || 'GET').toUpperCase();
    const headers = new Headers(init.headers || {});
    const crossOrigin = new URL(url).origin !== this.appOrigin;
    const withCredentials = init.credentials === 'include' || (!crossOrigin && init.credentials !== 'omit');
    if (crossOrigin) {
      headers.set('origin', this.appOrigin);
      const custom = [...headers.entries()]
        .filter(([k, v]) => k !== 'origin' && !safelisted(k, v))
        .map(([k]) => k.toLowerCase())
        .sort();
      if (!['GET', 'HEAD', 'POST'].includes(method) || custom.length > 0) {
        const pre = await realFetch(url, {
          method: 'OPTIONS',
          headers: {
            origin: this.appOrigin,
            'access-control-request-method': method,
            ...(custom.length ? { 'access-control-request-headers': custom.join(',') } : {}),
          },
          redirect: 'manual',
        });
        const allowedMethods = (pre.headers.get('access-control-allow-methods') || '').toUpperCase().split(/\s*,\s*/);
        const allowedHeaders = (pre.headers.get('access-control-allow-headers') || '').toLowerCase().split(/\s*,\s*/);
        const problems = [];
        if (pre.status < 200 || pre.status > 299) problems.push(`preflight status ${pre.status}`);
        if (pre.headers.get('access-control-allow-origin') !== this.appOrigin) problems.push(`preflight allow-origin ${pre.headers.get('access-control-allow-origin')}`);
        if (withCredentials && pre.headers.get('access-control-allow-credentials') !== 'true') problems.push('preflight without allow-credentials');
        if (!['GET', 'HEAD', 'POST'].includes(method) && !allowedMethods.includes(method)) problems.push(`method ${method} not allowed`);
        for (const h of custom) if (!allowedHeaders.includes(h)) problems.push(`header ${h} not allowed`);
        if (problems.length) throw new TypeError(`CORS preflight of ${method} ${url} failed: ${problems.join('; ')}`);
      }
    }
    if (withCredentials) {
      const cookie = this.cookieHeader(url);
      if (cookie) headers.set('cookie', cookie);
    }
    const res = await realFetch(url, { ...init, headers, redirect: 'manual' });
    this.log.push(`${method} ${new URL(url).pathname} ${res.status}`);
    if (crossOrigin) {
      const allow = res.headers.get('access-control-allow-origin');
      if (allow !== this.appOrigin || (withCredentials && res.headers.get('access-control-allow-credentials') !== 'true')) {
        throw new TypeError(`CORS: the reply to ${method} ${url} (${res.status}) is hidden from the page (allow-origin ${allow})`);
      }
    }
    if (withCredentials) this.store(url, res.headers.getSetCookie());
    return res;
  };

  install() {
    globalThis.fetch = this.fetch;
    const origin = this.appOrigin;
    globalThis.window = {
      location: {
        get href() { return `${origin}/`; },
        set href(to) { throw new Error(`the client was told to navigate to ${to} (a 302?)`); },
      },
    };
    const store = new Map();
    globalThis.sessionStorage = {
      getItem: (k) => (store.has(k) ? store.get(k) : null),
      setItem: (k, v) => store.set(k, String(v)),
      removeItem: (k) => store.delete(k),
    };
  }
}
