// Converse.js in headless Debian Chromium (playwright-core) behind a real web
// server that authenticates the user itself (HTTP basic auth: Apache or nginx,
// tests/e2e/web.sh) and runs xtoken-credentials as credentials_url.
// Every request not to 127.0.0.1 is aborted.
//
//   WEB_PASSWORD=... node webserver.mjs --base http://127.0.0.1:PORT --page /chat/ \
//        --user alice --scenario S --out DIR --name NAME [--query '?sasl=x-token']
//        [--reload] [--expect-sasl MECHANISM] [--tokens-out FILE] [--timeout SECONDS]
//
// Scenarios (one result line on stdout; exit 0 pass, 1 fail):
//   login      the browser answers the basic-auth challenge; the page loads,
//              Converse fetches credentials and must reach resource binding
//              (body[data-xmpp=online], "I am online"). With --reload, the
//              page is then reloaded and must log in again with a new token
//              (websocket: over BOSH, Converse re-attaches its session
//              instead, when the server lets it). Screenshot.
//   refused    wrong basic-auth password: the page is a 401, no credentials
//              are fetched, no websocket or BOSH request is made.
//   forbidden  a user the web server knows but xtoken-credentials does not
//              allow: the page loads, credentials answer 403, Converse never
//              sends an <auth/> and never goes online.
// Every /chat/credentials answer is recorded; --tokens-out writes the tokens
// handed out (one per line, mode 0600) so the caller can check that no log
// holds one. --expect-sasl M: every <auth/> sent names M (at least one).

import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { launchChromium, loopbackOnly, result, waitFor } from './harness.mjs';

const { values: opt } = parseArgs({
    options: {
        base: { type: 'string' }, page: { type: 'string', default: '/chat/' },
        user: { type: 'string', default: 'alice' }, scenario: { type: 'string', default: 'login' },
        out: { type: 'string' }, name: { type: 'string' }, query: { type: 'string', default: '' },
        timeout: { type: 'string', default: '30' }, 'expect-sasl': { type: 'string' },
        'tokens-out': { type: 'string' }, reload: { type: 'boolean', default: false },
    },
});
const timeout = Number(opt.timeout) * 1000;
const pageUrl = `${opt.base}${opt.page}${opt.query}`;
const credentialsPath = `${opt.page}credentials`;
const aborted = [];
const answers = []; // { status, jid, password } of every credentials request
const wire = { mechanisms: [], transports: 0 };

function recordSent(text) {
    for (const m of text.matchAll(/<auth\b[^>]*\bmechanism=["']([^"']*)["']/g)) wire.mechanisms.push(m[1]);
}

function watch(page) {
    page.on('websocket', (ws) => {
        wire.transports += 1;
        ws.on('framesent', (frame) => recordSent(String(frame.payload)));
    });
    page.on('request', (request) => {
        if (new URL(request.url()).pathname.endsWith('/http-bind')) {
            wire.transports += 1;
            recordSent(request.postData() || '');
        }
    });
    page.on('response', async (response) => {
        if (new URL(response.url()).pathname !== credentialsPath) return;
        const entry = { status: response.status() };
        answers.push(entry);
        try {
            Object.assign(entry, await response.json());
        } catch {
            entry.unreadable = true;
        }
    });
}

const state = (page) => page.evaluate(() => ({
    xmpp: document.body.dataset.xmpp,
    bindings: Number(document.body.dataset.xmppBindings || 0),
    status: document.getElementById('xmpp-status')?.value,
}));

async function online(page) {
    const up = await waitFor(async () => (await state(page)).xmpp === 'online', timeout);
    return up && waitFor(() => page.getByText('I am online').first().isVisible(), 10000);
}

function saslVerdict() {
    const want = opt['expect-sasl'];
    const sent = [...new Set(wire.mechanisms)];
    const ok = !want || (wire.mechanisms.length > 0 && sent.length === 1 && sent[0] === want);
    return { ok, line: `SASL sent: ${sent.join(',') || 'none'} (${wire.mechanisms.length}x)` };
}

async function scenarioLogin(page) {
    const first = await page.goto(pageUrl, { timeout });
    if (first.status() !== 200) return result(false, `page answered ${first.status()}`);
    const once = await online(page);
    const before = (await state(page)).status;
    if (once && opt.reload) await page.reload({ timeout });
    const twice = once && (!opt.reload || await online(page));
    if (twice) await page.waitForTimeout(1000);
    await page.screenshot({ path: `${opt.out}/${opt.name}.png` });
    const tokens = answers.filter((a) => a.status === 200).map((a) => a.password);
    const sasl = saslVerdict();
    const summary = `credentials: ${answers.map((a) => a.status).join(',')}; `
        + `${new Set(tokens).size} distinct tokens; ${sasl.line}`;
    if (!once) return result(false, `not online after ${opt.timeout}s: ${JSON.stringify(await state(page))}; ${summary}`);
    if (!twice) return result(false, `not online again after the reload: ${summary}`);
    if (tokens.length < (opt.reload ? 2 : 1) || new Set(tokens).size !== tokens.length) {
        return result(false, `tokens: ${summary}`);
    }
    if (answers.some((a) => a.jid !== `${opt.user.toLowerCase()}@localhost` && a.status === 200)) {
        return result(false, `a token for another JID: ${JSON.stringify(answers.map((a) => a.jid))}`);
    }
    if (!sasl.ok) return result(false, `expected only ${opt['expect-sasl']}: ${summary}`);
    const again = opt.reload ? `, reloaded, online again (${(await state(page)).status})` : '';
    return result(true, `online (${before})${again}; ${summary}`);
}

async function scenarioRefused(page) {
    const response = await page.goto(pageUrl, { timeout });
    await page.waitForTimeout(2000);
    await page.screenshot({ path: `${opt.out}/${opt.name}.png` });
    const seen = `page ${response.status()}; credentials requests: ${answers.length}; `
        + `XMPP transports opened: ${wire.transports}`;
    const ok = response.status() === 401 && answers.length === 0 && wire.transports === 0;
    return result(ok, ok ? `no page, no token, no chat: ${seen}` : `expected a 401 and nothing else: ${seen}`);
}

async function scenarioForbidden(page) {
    const response = await page.goto(pageUrl, { timeout });
    const asked = await waitFor(async () => answers.length > 0, timeout);
    await page.waitForTimeout(3000);
    await page.screenshot({ path: `${opt.out}/${opt.name}.png` });
    const s = await state(page);
    const seen = `page ${response.status()}; credentials: ${answers.map((a) => a.status).join(',') || 'none'}; `
        + `SASL sent: ${wire.mechanisms.join(',') || 'none'}; xmpp: ${s.xmpp}`;
    const ok = response.status() === 200 && asked && answers.every((a) => a.status === 403 && !a.password)
        && wire.mechanisms.length === 0 && s.xmpp !== 'online' && s.bindings === 0;
    return result(ok, ok ? `page served, no token, no chat: ${seen}` : `unexpected: ${seen}`);
}

const browser = await launchChromium(timeout);
let status = 1;
try {
    const context = await browser.newContext({
        viewport: { width: 1024, height: 640 },
        httpCredentials: { username: opt.user, password: process.env.WEB_PASSWORD || '' },
    });
    await loopbackOnly(context, aborted);
    const page = await context.newPage();
    watch(page);
    page.on('pageerror', (error) => console.error(`page error: ${error.message}`));
    const run = { login: scenarioLogin, refused: scenarioRefused, forbidden: scenarioForbidden }[opt.scenario];
    status = await run(page);
} catch (error) {
    status = result(false, `error: ${error.message.split('\n')[0]}`);
} finally {
    if (opt['tokens-out']) {
        const tokens = answers.filter((a) => a.password).map((a) => `${a.password}\n`).join('');
        writeFileSync(opt['tokens-out'], tokens, { mode: 0o600, flag: 'a' });
    }
    if (aborted.length) console.error(`aborted requests to: ${[...new Set(aborted)].join(' ')}`);
    await browser.close();
}
process.exit(status);
