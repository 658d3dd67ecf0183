// Drive Converse.js in headless Debian Chromium (playwright-core) through the
// stand-in web app. Every request not to 127.0.0.1 is aborted.
//
//   node browser.mjs --base http://127.0.0.1:PORT --user alice --scenario S \
//        --out DIR --name NAME [--query '?transport=bosh'] [--signal FILE]
//        [--timeout SECONDS] [--size WIDTHxHEIGHT] [--expect-sasl MECHANISM]
//
// Scenarios (one result line on stdout; exit 0 pass, 1 fail):
//   login      log in to the web app; Converse fetches /credentials and must
//              reach resource binding (body[data-xmpp=online]); screenshot.
//   tamper     the web app hands out a tampered token (auto_reconnect off):
//              Converse must show the login failure and never go online.
//   reconnect  online once, print READY, wait for FILE (--signal) to appear
//              (the test restarts the XMPP server meanwhile), then Converse
//              must bind again by itself (a fresh token from /credentials).
//   no-sasl    (the X-TOKEN plugin against a server without X-TOKEN) the
//              server offers its mechanisms over the websocket; Converse
//              must send no SASL <auth/> and no legacy iq:auth at all, and
//              never go online. --expect-legacy-offer: the server must
//              also have offered legacy auth (XEP-0078), the fallback the
//              plugin has to refuse too.
// Every <auth mechanism=.../> the page sends (websocket frames, BOSH
// bodies) is recorded; --expect-sasl M fails the run unless at least one
// was sent and all of them name M (e.g. X-TOKEN: never PLAIN).
// Screenshots: DIR/NAME.png.

import { existsSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { launchChromium, loopbackOnly, result, waitFor } from './harness.mjs';

const { values: opt } = parseArgs({
    options: {
        base: { type: 'string' }, user: { type: 'string', default: 'alice' },
        scenario: { type: 'string', default: 'login' }, out: { type: 'string' },
        name: { type: 'string' }, query: { type: 'string', default: '' },
        signal: { type: 'string' }, timeout: { type: 'string', default: '30' },
        size: { type: 'string', default: '1024x640' },
        'expect-sasl': { type: 'string' },
        'expect-legacy-offer': { type: 'boolean', default: false },
    },
});
const timeout = Number(opt.timeout) * 1000;
const aborted = [];
// What the page sent and received on the XMPP transports.
const wire = { mechanisms: [], legacyAuth: 0, offered: [], legacyOffered: false };

function recordSent(text) {
    for (const m of text.matchAll(/<auth\b[^>]*\bmechanism=["']([^"']*)["']/g)) wire.mechanisms.push(m[1]);
    if (text.includes('jabber:iq:auth')) wire.legacyAuth += 1;
}

function recordReceived(text) {
    for (const m of text.matchAll(/<mechanism>([^<]*)<\/mechanism>/g)) wire.offered.push(m[1]);
    if (text.includes('http://jabber.org/features/iq-auth')) wire.legacyOffered = true;
}

function watchWire(page) {
    page.on('websocket', (ws) => {
        ws.on('framesent', (frame) => recordSent(String(frame.payload)));
        ws.on('framereceived', (frame) => recordReceived(String(frame.payload)));
    });
    page.on('request', (request) => {
        if (new URL(request.url()).pathname === '/http-bind') recordSent(request.postData() || '');
    });
}

// --expect-sasl: the verdict on the mechanisms sent, or null when not asked.
function saslVerdict() {
    const want = opt['expect-sasl'];
    if (!want) return null;
    const sent = [...new Set(wire.mechanisms)];
    const ok = wire.mechanisms.length > 0 && sent.length === 1 && sent[0] === want && wire.legacyAuth === 0;
    return { ok, line: `SASL sent: ${sent.join(',') || 'none'} (${wire.mechanisms.length}x)` };
}

async function login(page, tamper) {
    await page.goto(`${opt.base}/login`, { timeout });
    await page.fill('#user', opt.user);
    await page.locator('#next').evaluate((el, q) => { el.value = q; }, opt.query);
    if (tamper) await page.check('#tamper');
    await Promise.all([page.waitForURL(`${opt.base}/${opt.query}`, { timeout }), page.click('#login')]);
}

const state = (page) => page.evaluate(() => ({
    xmpp: document.body.dataset.xmpp,
    bindings: Number(document.body.dataset.xmppBindings || 0),
    status: document.getElementById('xmpp-status')?.value,
}));

async function scenarioLogin(page) {
    await login(page, false);
    let online = await waitFor(async () => (await state(page)).xmpp === 'online', timeout);
    // Converse's own control box must say so too (it shows the roster then).
    if (online) online = await waitFor(() => page.getByText('I am online').first().isVisible(), 10000);
    if (online) await page.waitForTimeout(1000);
    await page.screenshot({ path: `${opt.out}/${opt.name}.png` });
    const s = await state(page);
    const sasl = saslVerdict();
    if (sasl && !sasl.ok) return result(false, `expected only ${opt['expect-sasl']}: ${sasl.line}`);
    const note = sasl ? `; ${sasl.line}` : '';
    return result(online, online ? `online: ${s.status}${note}` : `not online after ${opt.timeout}s: ${JSON.stringify(s)}${note}`);
}

async function scenarioTamper(page) {
    await login(page, true);
    // Converse shows its login form again with the reason.
    // Converse 14: "Your XMPP address and/or password is incorrect. Please try again."
    const failure = page.getByText(/password is incorrect|authentication failed/i).first();
    const shown = await waitFor(async () => (await failure.count()) > 0 && failure.isVisible(), timeout);
    await page.waitForTimeout(1000);
    await page.screenshot({ path: `${opt.out}/${opt.name}.png` });
    const s = await state(page);
    if (s.xmpp === 'online' || s.bindings > 0) return result(false, `went online with a tampered token: ${s.status}`);
    const sasl = saslVerdict();
    if (sasl && !sasl.ok) return result(false, `expected only ${opt['expect-sasl']}: ${sasl.line}`);
    const note = sasl ? `; ${sasl.line}` : '';
    return result(shown, shown ? `login refused, page says: "${(await failure.textContent()).trim()}"${note}`
        : `no failure message after ${opt.timeout}s: ${JSON.stringify(s)}${note}`);
}

async function scenarioNoSasl(page) {
    await login(page, false);
    // The server's features must arrive (proof it was reached and offered
    // its mechanisms); then give Converse time to do whatever it would do.
    const offered = await waitFor(async () => wire.offered.length > 0, timeout);
    await page.waitForTimeout(3000);
    await page.screenshot({ path: `${opt.out}/${opt.name}.png` });
    const s = await state(page);
    const seen = `server offered ${[...new Set(wire.offered)].join(',') || 'nothing'}`
        + `${wire.legacyOffered ? ' and legacy iq-auth' : ''}; `
        + `SASL sent: ${wire.mechanisms.join(',') || 'none'}; legacy iq:auth sent: ${wire.legacyAuth}`;
    if (!offered) return result(false, `no stream features received: ${JSON.stringify(s)}`);
    if (opt['expect-legacy-offer'] && !wire.legacyOffered) return result(false, `no legacy iq-auth offered: ${seen}`);
    if (wire.mechanisms.length || wire.legacyAuth) return result(false, `sent a token anyway: ${seen}`);
    if (s.xmpp === 'online' || s.bindings > 0) return result(false, `went online: ${seen}`);
    return result(true, `no token sent: ${seen}`);
}

async function scenarioReconnect(page) {
    await login(page, false);
    if (!(await waitFor(async () => (await state(page)).bindings === 1, timeout))) {
        return result(false, `not online before the restart: ${JSON.stringify(await state(page))}`);
    }
    console.log('READY');
    if (!(await waitFor(async () => existsSync(opt.signal), 60000))) return result(false, 'no restart signal');
    const again = await waitFor(async () => (await state(page)).bindings >= 2, 60000);
    if (again) await page.waitForTimeout(1000);
    await page.screenshot({ path: `${opt.out}/${opt.name}.png` });
    const s = await state(page);
    return result(again, again ? `bound again by itself (bindings: ${s.bindings}): ${s.status}`
        : `did not reconnect within 60 s: ${JSON.stringify(s)}`);
}

const browser = await launchChromium(timeout);
let status = 1;
try {
    const [width, height] = opt.size.split('x').map(Number);
    const context = await browser.newContext({ viewport: { width, height } });
    await loopbackOnly(context, aborted);
    const page = await context.newPage();
    watchWire(page);
    page.on('console', (msg) => {
        if (msg.type() === 'error') console.error(`console: ${msg.text()}`);
    });
    page.on('pageerror', (error) => console.error(`page error: ${error.message}`));
    const run = {
        login: scenarioLogin, tamper: scenarioTamper, reconnect: scenarioReconnect, 'no-sasl': scenarioNoSasl,
    }[opt.scenario];
    status = await run(page);
} catch (error) {
    status = result(false, `error: ${error.message.split('\n')[0]}`);
} finally {
    if (aborted.length) console.error(`aborted requests to: ${[...new Set(aborted)].join(' ')}`);
    await browser.close();
}
process.exit(status);
