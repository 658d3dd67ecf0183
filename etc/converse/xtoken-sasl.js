// xtoken-sasl: a Converse.js plugin that logs in with SASL X-TOKEN, the
// mechanism of Prosody's mod_auth_token that pam_xtoken's mod_auth_xtoken
// offers too. Converse.js 14 (Strophe.js 3); see etc/converse/README.md.
//
//   import converse from '/dist/converse.min.js';
//   import { registerXTokenSasl, XTOKEN_SASL_PLUGIN } from '/xtoken-sasl.js';
//   registerXTokenSasl(converse);
//   converse.initialize({ ..., whitelisted_plugins: [XTOKEN_SASL_PLUGIN] });
//
// X-TOKEN carries the same bytes as PLAIN: [authzid] NUL authcid NUL token.
// What the plugin adds is the guarantee that the token goes out under no
// other name: while it is active, every connection Converse creates knows
// X-TOKEN and nothing else (no PLAIN, no SCRAM, no legacy iq:auth), so a
// server that does not offer X-TOKEN (ejabberd, a Prosody without
// mod_auth_xtoken, a downgrade attempt) gets no token at all: Converse
// stops with "no supported authentication mechanism".
//
// Use it with Prosody and authentication = "xtoken". Do not use it with
// ejabberd: ejabberd has no X-TOKEN, tokens go there as PLAIN passwords.

export const XTOKEN_SASL_PLUGIN = 'xtoken-sasl';
export const XTOKEN_MECHANISM = 'X-TOKEN';

// Strophe.js's own PLAIN builds exactly these bytes (and drops the authzid
// when it is the bare JID itself); only the name on the wire differs.
function xtokenMechanism(Strophe) {
    return class SASLXToken extends Strophe.SASLPlain {
        constructor() {
            // client first (the token is in <auth/>), above PLAIN's 50
            super(XTOKEN_MECHANISM, true, 55);
        }
    };
}

// Restrict one Strophe connection to X-TOKEN. Strophe falls back to
// legacy authentication (XEP-0078, the password in an iq) when no SASL
// mechanism can start: with a token that is a fallback to refuse too.
function restrictToXToken(connection, Strophe, SASLXToken) {
    connection.registerSASLMechanisms([SASLXToken]);
    connection._attemptLegacyAuth = function refuseLegacyAuth() {
        Strophe.error('xtoken-sasl: the server offers no X-TOKEN; not sending the token');
        this._changeConnectStatus(Strophe.Status.CONNFAIL, Strophe.ErrorCondition.NO_AUTH_MECH);
        this._doDisconnect();
    };
}

export function registerXTokenSasl(converse) {
    const { Strophe } = converse.env;
    if (!Strophe?.SASLPlain) throw new Error('xtoken-sasl: this Converse.js exposes no Strophe.SASLPlain');
    const SASLXToken = xtokenMechanism(Strophe);
    converse.plugins.add(XTOKEN_SASL_PLUGIN, {
        initialize() {
            const { api } = this._converse;
            // Fired for each new Strophe connection, before it connects:
            // the first login and any connection made for a reconnect.
            api.listen.on('connectionInitialized', () => {
                restrictToXToken(api.connection.get(), Strophe, SASLXToken);
            });
        },
    });
    return SASLXToken;
}
