# xtoken-credentials (issue 21): Converse.js's credentials_url as a CGI
# program for any web server that authenticates its users itself.
#   build/xtoken-credentials   the program (packaged in /usr/lib/cgi-bin)
#   make check-credentials     unit tests (Check) and CGI-level tests (the
#                              binary run with a CGI environment)
#   make e2e-web               real Apache (mod_cgid, basic auth) and nginx +
#                              fcgiwrap on 127.0.0.1, headless Chromium and
#                              Converse.js logging in to Prosody and ejabberd
#   make demo-web              the Apache setup, its URL (and, without a
#                              display, a headless login and its screenshot)
#   make bench-web             tokens/s through Apache's CGI and fcgiwrap next
#                              to a static file of the same size (run by make bench)
# The e2e, demo and bench need root and tests/install-deps.sh build e2e prosody converse web.

CRED_SRCS      := $(wildcard credentials/*.c)
CRED_CORE_SRCS := $(filter-out credentials/main.c,$(CRED_SRCS))
CRED_OBJS      := $(CRED_SRCS:credentials/%.c=$(BUILD)/credentials/%.o)
CRED_CORE_OBJS := $(CRED_CORE_SRCS:credentials/%.c=$(BUILD)/credentials/%.o)
CRED_LOG_OBJ   := $(BUILD)/xtoken.o/log.o
CREDENTIALS    := $(BUILD)/xtoken-credentials
CGI_DIR        ?= $(PREFIX)/lib/cgi-bin

.PHONY: check-credentials e2e-web demo-web bench-web install-credentials uninstall-credentials
all: $(CREDENTIALS)

$(BUILD)/credentials/%.o: credentials/%.c credentials/*.h shared/xtoken.h xtoken/log.h
	@mkdir -p $(@D)
	$(CC) $(ALL_CPPFLAGS) -Icredentials -Ixtoken $(ALL_CFLAGS) -c -o $@ $<

# --as-needed: every library the program does not call is left out of the
# exec the web server pays on each request.
$(CREDENTIALS): $(CRED_OBJS) $(CRED_LOG_OBJ) $(LIB)
	$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -Wl,--as-needed -o $@ $(CRED_OBJS) $(CRED_LOG_OBJ) \
	  $(LIB) $(LIBS)

$(BUILD)/tests/check_credentials: tests/credentials/check_credentials.c $(CRED_CORE_OBJS) \
                                  $(CRED_LOG_OBJ) $(LIB)
	@mkdir -p $(@D)
	$(CC) $(TEST_CFLAGS) -Icredentials -Ixtoken $(ALL_LDFLAGS) -o $@ $< $(CRED_CORE_OBJS) \
	  $(CRED_LOG_OBJ) $(TEST_LIBS)

check-credentials: $(CREDENTIALS) $(BUILD)/tests/check_credentials $(BUILD)/xtoken
	$(BUILD)/tests/check_credentials
	CREDENTIALS=$(abspath $(CREDENTIALS)) XTOKEN=$(abspath $(BUILD)/xtoken) tests/credentials/run

CHECK_TARGETS += check-credentials

e2e-web: all
	tests/e2e/web.sh

E2E_TARGETS += e2e-web

demo-web:
	@tests/e2e/demo-web.sh

$(BUILD)/bench/cgi_floor: bench/cgi_floor.c
	@mkdir -p $(@D)
	$(CC) $(ALL_CPPFLAGS) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $<

bench-web: all $(BUILD)/bench/cgi_floor
	CGI_FLOOR=$(abspath $(BUILD)/bench/cgi_floor) bench/web.sh

bench: bench-web

install: install-credentials
install-credentials: $(CREDENTIALS)
	$(INSTALL_DIR) $(DESTDIR)$(CGI_DIR)
	$(INSTALL_PROGRAM) $(CREDENTIALS) $(DESTDIR)$(CGI_DIR)/xtoken-credentials

uninstall: uninstall-credentials
uninstall-credentials:
	rm -f $(DESTDIR)$(CGI_DIR)/xtoken-credentials
