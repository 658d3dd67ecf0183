-- Prosody through PAM: authentication = "cyrus" -> libsasl2 -> saslauthd -> PAM
-- -> pam_xtoken. Put these lines in /etc/prosody/prosody.cfg.lua (globally
-- or inside a VirtualHost block).
--
-- Needs (Debian 12): apt-get install prosody prosody-modules lua-cyrussasl sasl2-bin
-- mod_auth_cyrus comes with prosody-modules (/usr/lib/prosody/modules/mod_auth_cyrus/),
-- the Lua binding with lua-cyrussasl; both work with Prosody's Lua 5.4.
--
-- Also needed:
--   /etc/sasl2/prosody.conf          (etc/prosody/sasl2/prosody.conf: saslauthd, PLAIN only)
--   /etc/pam.d/xmpp                  (etc/prosody/pam.d/xmpp-saslauthd: pam_xtoken with domain=)
--   saslauthd -a pam WITHOUT -c      (Debian's /etc/default/saslauthd has -c: remove it,
--                                     its credential cache would accept a replayed token)
--   adduser prosody sasl             (to reach /run/saslauthd/mux)
-- The XMPP domain is not passed through saslauthd: PAM sees the bare
-- localpart ("alice"), so the PAM service names the domain (domain=). One PAM
-- service per XMPP domain: set cyrus_service_name per VirtualHost.

authentication = "cyrus"
-- PAM service saslauthd uses (/etc/pam.d/<name>).
cyrus_service_name = "xmpp"
-- libsasl2 application name: it reads /etc/sasl2/<name>.conf.
cyrus_application_name = "prosody"
-- PLAIN sends the token in clear inside the stream: keep TLS required
-- (the default), never allow_unencrypted_plain_auth on a real network.
c2s_require_encryption = true
