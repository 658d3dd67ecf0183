// What both page scripts share (browser.mjs for the Converse.js logins,
// webserver.mjs for the pages behind Apache and nginx): Debian's headless
// Chromium with the flags that keep it off the network and quiet, the
// PASS/FAIL line a scenario ends with, and polling with a deadline.
import { chromium } from 'playwright-core';

export function launchChromium(timeout) {
    return chromium.launch({
        executablePath: '/usr/bin/chromium',
        headless: true,
        timeout,
        args: [
            // root in the test roots: Chromium's sandbox needs a user namespace it cannot get there
            ...(process.getuid() === 0 ? ['--no-sandbox'] : []),
            '--disable-background-networking', '--disable-component-update', '--disable-default-apps',
            '--disable-sync', '--no-first-run', '--disable-domain-reliability', '--metrics-recording-only',
            '--disable-breakpad', '--disable-dev-shm-usage',
        ],
    });
}

// loopbackOnly CONTEXT ABORTED: every request of the browser context that
// is not to 127.0.0.1 is aborted, its origin pushed onto ABORTED (the test
// reaches no server but its own).
export async function loopbackOnly(context, aborted) {
    await context.route('**/*', (route) => {
        const url = new URL(route.request().url());
        if (url.hostname === '127.0.0.1') return route.continue();
        aborted.push(url.origin);
        return route.abort();
    });
}

// result OK LINE: print the scenario's verdict line (the shell side reads
// what follows PASS); the exit status that goes with it.
export function result(ok, line) {
    console.log(`${ok ? 'PASS' : 'FAIL'} ${line}`);
    return ok ? 0 : 1;
}

export async function waitFor(predicate, ms, step = 200) {
    const end = Date.now() + ms;
    while (Date.now() < end) {
        if (await predicate()) return true;
        await new Promise((r) => setTimeout(r, step));
    }
    return false;
}
