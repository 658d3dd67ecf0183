-- Prosody natively: authentication = "xtoken" (mod_auth_xtoken.lua, next to
-- this file). The Debian package and `make install` put it in
-- /usr/lib/prosody/modules, Prosody's own plugin directory: nothing else to
-- set. (A copy elsewhere needs plugin_paths = { "/that/dir" }.)
-- Put these lines in /etc/prosody/prosody.cfg.lua (globally or inside a
-- VirtualHost block).
--
-- Tokens are checked inside Prosody by libxtoken's Lua binding (package
-- lua-xtoken: /usr/lib/x86_64-linux-gnu/lua/5.4/xtoken.so); no process is
-- started per login. The replay store is shared with every `xtoken` run and
-- PAM login of user prosody. The config must be readable by prosody:
--   adduser prosody xtoken   (the package makes the file root:xtoken 0640; then restart Prosody)
-- SASL mechanisms offered: PLAIN and X-TOKEN (mod_auth_token's, same bytes),
-- X-TOKEN wherever Prosody offers PLAIN.

authentication = "xtoken"
xtoken_config = "/etc/security/pam_xtoken.conf"  -- default
-- Who exists (offline messages, subscriptions): any (default: every user of
-- a configured domain), nss, or an absolute path of a file of JIDs/localparts.
--xtoken_users = "/etc/prosody/xtoken-users"
-- Tokens travel in clear inside the stream: keep TLS required (the default).
c2s_require_encryption = true
