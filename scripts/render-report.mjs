#!/usr/bin/env node
/**
 * Renders a kdq report.html to PNG in headless Chromium and fails when the page is not
 * self-contained: any request that is not the report itself or a data: URL, any console error,
 * any uncaught exception; or when it does not fit the window's width (--width, default 1200):
 * the page scrolls sideways, or an element outside a scroll container passes the right edge.
 * Chromium is driven over the DevTools protocol on a pipe (--remote-debugging-pipe: JSON
 * messages separated by NUL bytes on fds 3 and 4), so no npm package is needed, and name
 * resolution is switched off as a second guard against the network.
 *
 *   node scripts/render-report.mjs runs/kd-mnist/latest/report.html [out.png] [--width 1200]
 *
 * Exit codes: 0 rendered cleanly; 1 console errors, network requests, external references or
 * horizontal overflow; 2 bad arguments or unreadable file; 3 no Chromium found (set $CHROMIUM
 * to its path).
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const CANDIDATES = ['chromium', 'chromium-browser', 'google-chrome', 'google-chrome-stable'];
const TIMEOUT_MS = 60_000;

/** The Chromium binary: $CHROMIUM, else the first candidate on PATH; null when none. */
export function findChromium() {
  if (process.env.CHROMIUM) return process.env.CHROMIUM;
  for (const c of CANDIDATES) {
    const r = spawnSync('sh', ['-c', `command -v ${c}`], { encoding: 'utf8' });
    if (r.status === 0 && r.stdout.trim()) return r.stdout.trim();
  }
  return null;
}

/**
 * References in the HTML that would make a browser fetch something: http(s) and protocol-relative
 * URLs, src= / href= / url() / @import pointing anywhere but data: or a fragment, and scripts.
 */
export function externalReferences(html) {
  const found = [];
  for (const m of html.matchAll(/(?:https?:)?\/\/[A-Za-z0-9.-]+\.[A-Za-z]{2,}[^\s"'<>)]*/g)) found.push(`URL ${m[0]}`);
  for (const m of html.matchAll(/\b(src|href|xlink:href|srcset|action|poster)\s*=\s*["']?([^"'\s>]*)/gi)) {
    if (!/^(data:|#)/i.test(m[2])) found.push(`${m[1]}="${m[2]}"`);
  }
  for (const m of html.matchAll(/url\(\s*["']?([^"')]*)/gi)) if (!/^(data:|#)/i.test(m[1])) found.push(`url(${m[1]})`);
  if (/@import/i.test(html)) found.push('@import');
  if (/<script\b/i.test(html)) found.push('<script>');
  if (/<(iframe|object|embed|link)\b/i.test(html)) found.push('an <iframe>, <object>, <embed> or <link> element');
  return [...new Set(found)];
}

/**
 * Runs in the page: what sticks out past the right edge of a `width`-pixel viewport. The page
 * itself when it scrolls sideways, then each outermost element whose right edge passes the
 * viewport and that is not inside a scroll container (overflow-x auto or scroll: a wide table
 * there scrolls, as intended). At most `limit` elements are named.
 */
export const OVERFLOW_PROBE = `(() => {
  const limit = 5;
  const vw = window.innerWidth;
  const out = [];
  const sw = document.documentElement.scrollWidth;
  if (sw > vw) out.push('the page is ' + sw + ' px wide');
  const scrolls = (el) => {
    for (let p = el.parentElement; p; p = p.parentElement) {
      const o = getComputedStyle(p).overflowX;
      if (o === 'auto' || o === 'scroll') return true;
    }
    return false;
  };
  const name = (el) => {
    const cls = typeof el.className === 'string' && el.className.trim() ? '.' + el.className.trim().split(/\\s+/).join('.') : '';
    const label = el.getAttribute('aria-label') || (el.innerText ?? el.textContent ?? '').trim().replace(/\\s+/g, ' ');
    return el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') + cls + (label ? ' "' + label.slice(0, 40) + (label.length > 40 ? '…' : '') + '"' : '');
  };
  const over = [];
  for (const el of document.body.querySelectorAll('*')) {
    const r = el.getBoundingClientRect();
    if (r.width === 0 || r.right <= vw + 0.5 || scrolls(el)) continue;
    if (over.some((o) => o.contains(el))) continue;
    over.push(el);
  }
  for (const el of over.slice(0, limit)) out.push(name(el) + ' reaches ' + Math.ceil(el.getBoundingClientRect().right) + ' px');
  if (over.length > limit) out.push((over.length - limit) + ' more element(s) past the edge');
  return out;
})()`;

class Cdp {
  constructor(child) {
    this.child = child;
    this.nextId = 1;
    this.pending = new Map();
    this.listeners = [];
    let buf = Buffer.alloc(0);
    // A dead browser breaks the pipes; its exit is what gets reported.
    child.stdio[3].on('error', () => undefined);
    child.stdio[4].on('error', () => undefined);
    child.stdio[4].on('data', (chunk) => {
      buf = Buffer.concat([buf, chunk]);
      let end;
      while ((end = buf.indexOf(0)) !== -1) {
        const msg = JSON.parse(buf.subarray(0, end).toString('utf8'));
        buf = buf.subarray(end + 1);
        if (msg.id !== undefined && this.pending.has(msg.id)) {
          const { resolve: ok, reject, method } = this.pending.get(msg.id);
          this.pending.delete(msg.id);
          if (msg.error) reject(new Error(`${method}: ${msg.error.message}`));
          else ok(msg.result);
        } else if (msg.method) {
          for (const l of this.listeners) l(msg);
        }
      }
    });
  }
  send(method, params = {}, sessionId) {
    const id = this.nextId++;
    const msg = { id, method, params, ...(sessionId ? { sessionId } : {}) };
    return new Promise((ok, reject) => {
      this.pending.set(id, { resolve: ok, reject, method });
      this.child.stdio[3].write(JSON.stringify(msg) + '\0');
    });
  }
  on(listener) {
    this.listeners.push(listener);
  }
}

/**
 * Renders `htmlPath` to `pngPath` (full page, `width` CSS pixels wide).
 * Returns { problems: string[], width, height, requests: string[] }.
 */
export async function renderReport(htmlPath, pngPath, { width = 1200, chromium = findChromium() } = {}) {
  if (!chromium) throw Object.assign(new Error('no Chromium found: install it (apt-get install chromium) or set $CHROMIUM'), { exitCode: 3 });
  const html = await readFile(htmlPath, 'utf8');
  const problems = externalReferences(html).map((r) => `external reference in the HTML: ${r}`);
  const pageUrl = pathToFileURL(resolve(htmlPath)).href;
  const profile = await mkdtemp(join(tmpdir(), 'kdq-chromium-'));
  const child = spawn(
    chromium,
    [
      '--headless',
      '--remote-debugging-pipe',
      '--no-sandbox',
      '--disable-gpu',
      '--no-first-run',
      '--no-default-browser-check',
      '--disable-extensions',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--host-resolver-rules=MAP * ~NOTFOUND',
      '--hide-scrollbars',
      `--user-data-dir=${profile}`,
      'about:blank',
    ],
    { stdio: ['ignore', 'ignore', 'pipe', 'pipe', 'pipe'] },
  );
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  let spawnError;
  const exited = new Promise((ok) => {
    child.on('exit', ok);
    child.on('error', (e) => {
      spawnError = e;
      ok(null);
    });
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), TIMEOUT_MS);
  const requests = [];
  try {
    const cdp = new Cdp(child);
    const failed = exited.then(() => {
      if (spawnError) throw Object.assign(new Error(`cannot start ${chromium}: ${spawnError.message}; install chromium or set $CHROMIUM`), { exitCode: 3 });
      throw new Error(`chromium exited (${child.exitCode}) before the page rendered: ${stderr.trim().split('\n').slice(-3).join(' | ')}`);
    });
    failed.catch(() => undefined);
    const step = (p) => Promise.race([p, failed]);
    const { targetId } = await step(cdp.send('Target.createTarget', { url: 'about:blank' }));
    const { sessionId } = await step(cdp.send('Target.attachToTarget', { targetId, flatten: true }));
    let loaded;
    const loadedP = new Promise((ok) => (loaded = ok));
    cdp.on((msg) => {
      if (msg.sessionId !== sessionId) return;
      const p = msg.params ?? {};
      if (msg.method === 'Network.requestWillBeSent') {
        requests.push(p.request.url);
        if (p.request.url !== pageUrl && !p.request.url.startsWith('data:')) problems.push(`network request: ${p.request.url}`);
      } else if (msg.method === 'Runtime.consoleAPICalled' && (p.type === 'error' || p.type === 'assert')) {
        problems.push(`console ${p.type}: ${(p.args ?? []).map((a) => a.value ?? a.description ?? '').join(' ')}`);
      } else if (msg.method === 'Runtime.exceptionThrown') {
        problems.push(`uncaught exception: ${p.exceptionDetails?.exception?.description ?? p.exceptionDetails?.text}`);
      } else if (msg.method === 'Log.entryAdded' && p.entry?.level === 'error') {
        problems.push(`console error (${p.entry.source}): ${p.entry.text}${p.entry.url ? ` (${p.entry.url})` : ''}`);
      } else if (msg.method === 'Page.loadEventFired') {
        loaded();
      }
    });
    for (const m of ['Page.enable', 'Runtime.enable', 'Log.enable', 'Network.enable']) await step(cdp.send(m, {}, sessionId));
    await step(cdp.send('Emulation.setDeviceMetricsOverride', { width, height: 900, deviceScaleFactor: 1, mobile: false }, sessionId));
    const nav = await step(cdp.send('Page.navigate', { url: pageUrl }, sessionId));
    if (nav.errorText) problems.push(`navigation failed: ${nav.errorText}`);
    await step(loadedP);
    const probe = await step(cdp.send('Runtime.evaluate', { expression: OVERFLOW_PROBE, returnByValue: true }, sessionId));
    if (probe.exceptionDetails) problems.push(`overflow check failed: ${probe.exceptionDetails.exception?.description ?? probe.exceptionDetails.text}`);
    for (const o of probe.result?.value ?? []) problems.push(`horizontal overflow at ${width} px: ${o}`);
    const metrics = await step(cdp.send('Page.getLayoutMetrics', {}, sessionId));
    const height = Math.ceil(metrics.cssContentSize?.height ?? metrics.contentSize.height);
    const shot = await step(
      cdp.send('Page.captureScreenshot', { format: 'png', captureBeyondViewport: true, clip: { x: 0, y: 0, width, height, scale: 1 } }, sessionId),
    );
    await writeFile(pngPath, Buffer.from(shot.data, 'base64'));
    await cdp.send('Browser.close').catch(() => undefined);
    return { problems, width, height, requests };
  } finally {
    clearTimeout(timer);
    if (child.exitCode === null && !spawnError) child.kill('SIGKILL');
    await exited;
    // Chromium's helper processes can outlive the browser by a moment and still write into the
    // profile (seen: ENOTEMPTY once in a loaded test run); rm retries those errors.
    await rm(profile, { recursive: true, force: true, maxRetries: 20, retryDelay: 100 });
  }
}

async function main(argv) {
  const args = [...argv];
  let width = 1200;
  const wi = args.indexOf('--width');
  if (wi !== -1) {
    width = Number(args[wi + 1]);
    args.splice(wi, 2);
    if (!Number.isInteger(width) || width < 200) {
      console.error(`render-report: --width expects a whole number of pixels >= 200, got '${argv[wi + 1]}'`);
      return 2;
    }
  }
  const [html, png = html?.replace(/\.html?$/i, '') + '.png'] = args;
  if (!html || args.length > 2) {
    console.error('usage: node scripts/render-report.mjs REPORT.html [OUT.png] [--width PIXELS]');
    return 2;
  }
  let r;
  try {
    r = await renderReport(html, png, { width });
  } catch (e) {
    console.error(`render-report: ${e.code === 'ENOENT' ? `cannot read ${html}` : e.message}`);
    return e.exitCode ?? 2;
  }
  for (const p of r.problems) console.error(`render-report: ${p}`);
  console.log(`${png}: ${r.width} x ${r.height} px, ${r.requests.length} request(s), ${r.problems.length} problem(s)`);
  return r.problems.length === 0 ? 0 : 1;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main(process.argv.slice(2)).then((code) => process.exit(code));
}
