// A stand-in for the web application that hosts Converse.js (tests only).
// Node's standard library only. Everything on 127.0.0.1.
//
//   GET  /login          a login form (user name; no password: this is a stand-in)
//   POST /login          sets the session cookie, redirects to /
//   GET  /               etc/converse/index.html for a logged-in user, else -> /login
//   GET  /credentials    {"jid", "password"}: a fresh token minted by `xtoken issue`
//                        for the session's user; 401 without a valid session cookie
//   GET  /dist/...       Converse.js's dist/ directory
//   GET  /xtoken-sasl.js etc/converse/xtoken-sasl.js (the X-TOKEN plugin, PLUGIN)
//   /xmpp-websocket      reverse proxy to the XMPP server's websocket (XMPP_WS)
//   /http-bind           reverse proxy to the XMPP server's BOSH endpoint (XMPP_BOSH)
//
// Environment: WEBAPP_PORT, XTOKEN (path of the tool), XTOKEN_CONFIG, XMPP_DOMAIN,
// CONVERSE_DIST, PAGE (the example page), PLUGIN (xtoken-sasl.js), XMPP_WS and/or XMPP_BOSH (backend URLs).
// Test-only: the login form's "tamper" box makes /credentials hand out tokens
// with one signature character changed (to show a refused login).
// Logs one line per request to stdout: never a token.

import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';

const env = (name, fallback) => {
    const value = process.env[name] ?? fallback;
    if (value === undefined) throw new Error(`webapp: set ${name}`);
    return value;
};
const port = Number(env('WEBAPP_PORT'));
const xtoken = env('XTOKEN');
const xtokenConfig = env('XTOKEN_CONFIG');
const domain = env('XMPP_DOMAIN');
const dist = path.resolve(env('CONVERSE_DIST'));
const pagePath = env('PAGE');
const pluginPath = env('PLUGIN');
const backends = {
    '/xmpp-websocket': process.env.XMPP_WS ? new URL(process.env.XMPP_WS) : null,
    '/http-bind': process.env.XMPP_BOSH ? new URL(process.env.XMPP_BOSH) : null,
};

const sessions = new Map(); // cookie value -> { user, tamper }
let minted = 0;

const TYPES = {
    '.js': 'text/javascript', '.mjs': 'text/javascript', '.css': 'text/css',
    '.json': 'application/json', '.wasm': 'application/wasm', '.svg': 'image/svg+xml',
    '.png': 'image/png', '.woff2': 'font/woff2', '.woff': 'font/woff', '.ttf': 'font/ttf',
    '.mp3': 'audio/mpeg', '.ogg': 'audio/ogg', '.html': 'text/html; charset=utf-8',
};

function log(...args) {
    console.log(new Date().toISOString(), ...args);
}

function session(req) {
    const cookie = (req.headers.cookie || '').split(/;\s*/)
        .find((c) => c.startsWith('xtoken_session='));
    return cookie ? sessions.get(cookie.slice('xtoken_session='.length)) : undefined;
}

function send(res, status, type, body, headers = {}) {
    res.writeHead(status, { 'Content-Type': type, ...headers });
    res.end(body);
}

function mint(jid) {
    return new Promise((resolve, reject) => {
        // No shell: the JID is one argv element. The token comes back on stdout.
        execFile(xtoken, ['issue', '--config', xtokenConfig, '--', jid], { timeout: 5000 },
            (error, stdout) => (error ? reject(error) : resolve(stdout.trim())));
    });
}

function tamper(token) {
    const pos = token.length - 20;
    return token.slice(0, pos) + (token[pos] === 'A' ? 'B' : 'A') + token.slice(pos + 1);
}

async function credentials(req, res) {
    const who = session(req);
    if (!who) {
        log('GET /credentials 401 (no session)');
        return send(res, 401, 'application/json', '{"error":"not logged in"}',
            { 'Cache-Control': 'no-store' });
    }
    const jid = `${who.user}@${domain}`;
    let token = await mint(jid);
    if (who.tamper) token = tamper(token);
    minted += 1;
    log(`GET /credentials 200 token #${minted} for ${jid}${who.tamper ? ' (tampered)' : ''}`);
    send(res, 200, 'application/json', JSON.stringify({ jid, password: token }),
        { 'Cache-Control': 'no-store' });
}

const LOGIN_FORM = `<!doctype html><html><head><meta charset="utf-8"><title>Log in</title></head>
<body><form method="post" action="/login">
<label>User <input name="user" id="user" autocomplete="username"></label>
<input type="hidden" name="next" id="next" value="">
<label><input type="checkbox" name="tamper" id="tamper" value="1"> hand out tampered tokens (test)</label>
<button type="submit" id="login">Log in</button></form></body></html>`;

async function login(req, res) {
    let body = '';
    for await (const chunk of req) body += chunk;
    const form = new URLSearchParams(body);
    const user = (form.get('user') || '').toLowerCase();
    if (!/^[a-z0-9._-]{1,64}$/.test(user)) {
        return send(res, 400, 'text/plain', 'bad user name\n');
    }
    const id = randomBytes(32).toString('hex');
    sessions.set(id, { user, tamper: form.get('tamper') === '1' });
    log(`POST /login ${user}`);
    res.writeHead(303, {
        'Set-Cookie': `xtoken_session=${id}; Path=/; HttpOnly; SameSite=Strict`,
        // Only a query string for the page (no open redirect).
        Location: '/' + (/^\?[\w=&-]*$/.test(form.get('next') || '') ? form.get('next') : ''),
    });
    res.end();
}

async function staticFile(res, file, root) {
    const resolved = path.resolve(root, file);
    if (resolved !== root && !resolved.startsWith(root + path.sep)) {
        return send(res, 403, 'text/plain', 'forbidden\n');
    }
    try {
        const data = await readFile(resolved);
        send(res, 200, TYPES[path.extname(resolved)] || 'application/octet-stream', data);
    } catch {
        send(res, 404, 'text/plain', 'not found\n');
    }
}

// BOSH: plain HTTP POSTs, forwarded as they are.
function proxyHttp(req, res, target) {
    const upstream = http.request({
        host: target.hostname, port: target.port, path: target.pathname, method: req.method,
        headers: { ...req.headers, host: target.host },
    }, (reply) => {
        res.writeHead(reply.statusCode, reply.headers);
        reply.pipe(res);
    });
    upstream.on('error', (error) => {
        log(`proxy ${req.url}: ${error.code || error.message}`);
        if (!res.headersSent) send(res, 502, 'text/plain', 'XMPP server unreachable\n');
        else res.destroy();
    });
    req.pipe(upstream);
}

// Websocket: replay the upgrade request to the backend, then splice the sockets.
function proxyUpgrade(req, socket, head) {
    const target = backends[new URL(req.url, 'http://x').pathname];
    if (!target) return socket.destroy();
    const upstream = net.connect(Number(target.port), target.hostname, () => {
        const headers = { ...req.headers, host: target.host };
        let text = `${req.method} ${target.pathname} HTTP/1.1\r\n`;
        for (const [name, value] of Object.entries(headers)) text += `${name}: ${value}\r\n`;
        upstream.write(text + '\r\n');
        if (head.length) upstream.write(head);
        upstream.pipe(socket);
        socket.pipe(upstream);
    });
    const close = () => { upstream.destroy(); socket.destroy(); };
    upstream.on('error', close);
    socket.on('error', close);
    upstream.on('close', close);
    socket.on('close', close);
}

const server = http.createServer(async (req, res) => {
    const url = new URL(req.url, 'http://127.0.0.1');
    try {
        if (url.pathname === '/login' && req.method === 'GET') return send(res, 200, 'text/html; charset=utf-8', LOGIN_FORM);
        if (url.pathname === '/login' && req.method === 'POST') return await login(req, res);
        if (url.pathname === '/credentials' && req.method === 'GET') return await credentials(req, res);
        if (url.pathname === '/xtoken-sasl.js') {
            return send(res, 200, TYPES['.js'], await readFile(pluginPath), { 'Cache-Control': 'no-store' });
        }
        if (url.pathname.startsWith('/dist/')) return await staticFile(res, decodeURIComponent(url.pathname.slice(6)), dist);
        if (backends[url.pathname]) return proxyHttp(req, res, backends[url.pathname]);
        if (url.pathname === '/' && req.method === 'GET') {
            if (!session(req)) {
                res.writeHead(303, { Location: '/login' });
                return res.end();
            }
            return send(res, 200, 'text/html; charset=utf-8', await readFile(pagePath),
                { 'Cache-Control': 'no-store' });
        }
        send(res, 404, 'text/plain', 'not found\n');
    } catch (error) {
        log(`${req.method} ${url.pathname} 500: ${error.message.split('\n')[0]}`);
        if (!res.headersSent) send(res, 500, 'text/plain', 'internal error\n');
    }
});
server.on('upgrade', proxyUpgrade);
server.listen(port, '127.0.0.1', () => log(`LISTENING 127.0.0.1:${port}`));
for (const signal of ['SIGTERM', 'SIGINT']) process.on(signal, () => process.exit(0));
