# make install / make uninstall (the Debian package build uses `install`).
#   make install DESTDIR=/tmp/stage PREFIX=/usr/local
# The PAM module goes where Linux-PAM looks for modules
# ($(pkg-config --variable=libdir pam)/security, whatever PREFIX is);
# everything else goes under PREFIX (default /usr).

INSTALL        ?= install
PAM_MODULE_DIR ?= $(shell $(PKG) --variable=libdir pam)/security
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
install: all $(XTOKEN_BIN)
	$(INSTALL) -d $(DESTDIR)$(PAM_MODULE_DIR) $(DESTDIR)$(BINDIR)
	$(INSTALL) -m 0644 $(PAM_MOD) $(DESTDIR)$(PAM_MODULE_DIR)/pam_xtoken.so
	$(INSTALL) -m 0755 $(XTOKEN_BIN) $(DESTDIR)$(BINDIR)/xtoken
	set -e; for page in $(MAN_PAGES); do \
	  section=$${page##*.}; \
	  $(INSTALL) -d $(DESTDIR)$(MANDIR)/man$$section; \
	  $(INSTALL) -m 0644 $$page $(DESTDIR)$(MANDIR)/man$$section/; \
	done
	set -e; if [ -f $(PROSODY_PROVIDER) ]; then \
	  $(INSTALL) -d $(DESTDIR)$(PROSODY_MODULE_DIR); \
	  $(INSTALL) -m 0644 $(PROSODY_PROVIDER) $(DESTDIR)$(PROSODY_MODULE_DIR)/; \
	fi
	set -e; for f in $(EXAMPLE_FILES); do \
	  rel=$${f#etc/}; \
	  $(INSTALL) -d $(DESTDIR)$(EXAMPLES_DIR)/$$(dirname $$rel); \
	  $(INSTALL) -m 0644 $$f $(DESTDIR)$(EXAMPLES_DIR)/$$rel; \
	done

uninstall:
	rm -f $(DESTDIR)$(PAM_MODULE_DIR)/pam_xtoken.so $(DESTDIR)$(BINDIR)/xtoken
	rm -f $(DESTDIR)$(PROSODY_MODULE_DIR)/$(notdir $(PROSODY_PROVIDER))
	set -e; for page in $(MAN_PAGES); do \
	  rm -f $(DESTDIR)$(MANDIR)/man$${page##*.}/$${page#man/}; \
	done
	rm -rf $(DESTDIR)$(EXAMPLES_DIR)
	rmdir $(DESTDIR)$(DOCDIR) 2>/dev/null || true
