// Debian's headless Chromium as the e2e tests drive it (browser.mjs for the
// Converse.js logins, webserver.mjs for the pages behind Apache and nginx):
// one place for the flags that keep it off the network and quiet.
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
