// Drive Converse.js in headless Debian Chromium (playwright-core) through the
// stand-in web app. Every request not to 127.0.0.1 is aborted.
//
//   node browser.mjs --base http://127.0.0.1:PORT --user alice --scenario S \
//        --out DIR --name NAME [--query '?transport=bosh'] [--signal FILE]
//        [--timeout SECONDS] [--size WIDTHxHEIGHT]
//
// Scenarios (one result line on stdout; exit 0 pass, 1 fail):
//   login      log in to the web app; Converse fetches /credentials and must
//              reach resource binding (body[data-xmpp=online]); screenshot.
//   tamper     the web app hands out a tampered token (auto_reconnect off):
//              Converse must show the login failure and never go online.
//   reconnect  online once, print READY, wait for FILE (--signal) to appear
//              (the test restarts the XMPP server meanwhile), then Converse
//              must bind again by itself (a fresh token from /credentials).
// Screenshots: DIR/NAME.png.

import { existsSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { chromium } from 'playwright-core';

const { values: opt } = parseArgs({
    options: {
        base: { type: 'string' }, user: { type: 'string', default: 'alice' },
        scenario: { type: 'string', default: 'login' }, out: { type: 'string' },
        name: { type: 'string' }, query: { type: 'string', default: '' },
        signal: { type: 'string' }, timeout: { type: 'string', default: '30' },
        size: { type: 'string', default: '1024x640' },
    },
});
const timeout = Number(opt.timeout) * 1000;
const aborted = [];

function result(ok, line) {
    console.log(`${ok ? 'PASS' : 'FAIL'} ${line}`);
    return ok ? 0 : 1;
}

async function waitFor(predicate, ms, step = 200) {
    const end = Date.now() + ms;
    while (Date.now() < end) {
        if (await predicate()) return true;
        await new Promise((r) => setTimeout(r, step));
    }
    return false;
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
    return result(online, online ? `online: ${s.status}` : `not online after ${opt.timeout}s: ${JSON.stringify(s)}`);
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
    return result(shown, shown ? `login refused, page says: "${(await failure.textContent()).trim()}"`
        : `no failure message after ${opt.timeout}s: ${JSON.stringify(s)}`);
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

const browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    headless: true,
    timeout,
    args: [
        ...(process.getuid() === 0 ? ['--no-sandbox'] : []),
        '--disable-background-networking', '--disable-component-update', '--disable-default-apps',
        '--disable-sync', '--no-first-run', '--disable-domain-reliability', '--metrics-recording-only',
        '--disable-breakpad', '--disable-dev-shm-usage',
    ],
});
let status = 1;
try {
    const [width, height] = opt.size.split('x').map(Number);
    const context = await browser.newContext({ viewport: { width, height } });
    await context.route('**/*', (route) => {
        const url = new URL(route.request().url());
        if (url.hostname === '127.0.0.1') return route.continue();
        aborted.push(url.origin);
        return route.abort();
    });
    const page = await context.newPage();
    page.on('console', (msg) => {
        if (msg.type() === 'error') console.error(`console: ${msg.text()}`);
    });
    page.on('pageerror', (error) => console.error(`page error: ${error.message}`));
    const run = { login: scenarioLogin, tamper: scenarioTamper, reconnect: scenarioReconnect }[opt.scenario];
    status = await run(page);
} catch (error) {
    status = result(false, `error: ${error.message.split('\n')[0]}`);
} finally {
    if (aborted.length) console.error(`aborted requests to: ${[...new Set(aborted)].join(' ')}`);
    await browser.close();
}
process.exit(status);
