# make install / make uninstall (the Debian package build uses `install`).
#   make install DESTDIR=/tmp/stage PREFIX=/usr/local
# The PAM module goes where Linux-PAM looks for modules
# ($(pkg-config --variable=libdir pam)/security, whatever PREFIX is);
# everything else goes under PREFIX (default /usr), but the Lua module,
# which goes where Debian's lua5.4 looks for C modules
# ($(LUA_CMOD_DIR), set in lua/lua.mk: pkg-config's INSTALL_CMOD of lua5.4,
# /usr/lib/<multiarch>/lua/5.4), whatever PREFIX is.

# GNU names, not INSTALL: dh_auto_install sets that to a command that warns
# on every call without -s (stripping is dh_strip's job).
INSTALL_PROGRAM ?= install -m 0755
INSTALL_DATA    ?= install -m 0644
INSTALL_DIR     ?= install -d
PAM_MODULE_DIR ?= $(call pkg,--variable=libdir,pam)/security
BINDIR         ?= $(PREFIX)/bin
MANDIR         ?= $(PREFIX)/share/man
DOCDIR         ?= $(PREFIX)/share/doc/libpam-xtoken
EXAMPLES_DIR   ?= $(DOCDIR)/examples
# Debian's Prosody loads plugins from /usr/lib/prosody/modules.
PROSODY_MODULE_DIR ?= $(PREFIX)/lib/prosody/modules

XTOKEN_BIN      := $(BUILD)/xtoken
PROSODY_PROVIDER := etc/prosody/mod_auth_xtoken.lua
MAN_PAGES       := $(wildcard man/*.[0-9])
# Everything under etc/ is documentation for the administrator; not
# npm installs or editor leftovers.
EXAMPLE_FILES    = $(shell find etc -type f ! -path '*/node_modules/*' ! -name '*~' 2>/dev/null | sort)

.PHONY: install uninstall
install: all $(XTOKEN_BIN) $(LUA_MOD)
	$(INSTALL_DIR) $(DESTDIR)$(PAM_MODULE_DIR) $(DESTDIR)$(BINDIR) $(DESTDIR)$(LUA_CMOD_DIR)
	$(INSTALL_DATA) $(PAM_MOD) $(DESTDIR)$(PAM_MODULE_DIR)/pam_xtoken.so
	$(INSTALL_DATA) $(LUA_MOD) $(DESTDIR)$(LUA_CMOD_DIR)/xtoken.so
	$(INSTALL_PROGRAM) $(XTOKEN_BIN) $(DESTDIR)$(BINDIR)/xtoken
	set -e; for page in $(MAN_PAGES); do \
	  section=$${page##*.}; \
	  $(INSTALL_DIR) $(DESTDIR)$(MANDIR)/man$$section; \
	  $(INSTALL_DATA) $$page $(DESTDIR)$(MANDIR)/man$$section/; \
	done
	set -e; if [ -f $(PROSODY_PROVIDER) ]; then \
	  $(INSTALL_DIR) $(DESTDIR)$(PROSODY_MODULE_DIR); \
	  $(INSTALL_DATA) $(PROSODY_PROVIDER) $(DESTDIR)$(PROSODY_MODULE_DIR)/; \
	fi
	set -e; for f in $(EXAMPLE_FILES); do \
	  rel=$${f#etc/}; \
	  $(INSTALL_DIR) $(DESTDIR)$(EXAMPLES_DIR)/$$(dirname $$rel); \
	  $(INSTALL_DATA) $$f $(DESTDIR)$(EXAMPLES_DIR)/$$rel; \
	done

uninstall:
	rm -f $(DESTDIR)$(PAM_MODULE_DIR)/pam_xtoken.so $(DESTDIR)$(BINDIR)/xtoken
	rm -f $(DESTDIR)$(LUA_CMOD_DIR)/xtoken.so
	rm -f $(DESTDIR)$(PROSODY_MODULE_DIR)/$(notdir $(PROSODY_PROVIDER))
	set -e; for page in $(MAN_PAGES); do \
	  rm -f $(DESTDIR)$(MANDIR)/man$${page##*.}/$${page#man/}; \
	done
	rm -rf $(DESTDIR)$(EXAMPLES_DIR)
	rmdir $(DESTDIR)$(DOCDIR) 2>/dev/null || true
