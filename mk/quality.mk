# Sanitizers and static analysis (issue 8), run by `make ci`:
#   make check-asan       the whole `make check` once more under ASan + UBSan
#   make check-valgrind   unit and PAM tests under valgrind memcheck
#   make analyze          cppcheck + clang-tidy (.clang-tidy, .cppcheck-suppressions)
# Each fails on any finding. Logs go to files under the build dir, so the
# tests' own output checks are not disturbed and nothing slips by unread.

QUALITY_SAN := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
ASAN_BUILD  := $(BUILD)/asan
VG_DIR      := $(BUILD)/valgrind

.PHONY: check-asan check-valgrind analyze analyze-cppcheck analyze-clang-tidy

# The test programs and xtoken are built with ASan, so the PAM module they
# dlopen finds the runtime already loaded. pam_wrapper (LD_PRELOADed by the
# PAM log tests) would come before libasan and dlopens libpam with
# RTLD_DEEPBIND, which ASan cannot handle: verify_asan_link_order=0 and
# pam_wrapper's switch to turn deep binding off (spelled UID_WRAPPER_... in
# Debian's 1.1.4, PAM_WRAPPER_... in later releases) make that work.
# Every sanitizer report goes to $(ASAN_BUILD)/san-logs; any file there fails.
# check-lua runs Debian's lua5.4, which is not built with ASan, on the ASan
# build of the binding: LUA_PRELOAD puts the runtime first into that
# process (leak detection stays on: lua5.4 frees its state at exit).
check-asan:
	rm -rf $(ASAN_BUILD)/san-logs && mkdir -p $(ASAN_BUILD)/san-logs
	UID_WRAPPER_DISABLE_DEEPBIND=1 PAM_WRAPPER_DISABLE_DEEPBIND=1 \
	ASAN_OPTIONS=detect_leaks=1:verify_asan_link_order=0:log_path=$(abspath $(ASAN_BUILD))/san-logs/asan \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:log_path=$(abspath $(ASAN_BUILD))/san-logs/ubsan \
	  $(MAKE) BUILD=$(ASAN_BUILD) CFLAGS='-O1 -g $(QUALITY_SAN)' LDFLAGS='$(QUALITY_SAN)' \
	    LUA_PRELOAD=$$($(CC) -print-file-name=libasan.so) check
	@if [ -n "$$(ls -A $(ASAN_BUILD)/san-logs)" ]; then \
	  cat $(ASAN_BUILD)/san-logs/*; echo "check-asan: sanitizer reports above"; exit 1; fi
	@echo "check-asan: make check passed under ASan+UBSan, no sanitizer reports"

CI_TARGETS += check-asan

# Check's fork-per-test is turned off so valgrind sees the tests themselves.
# pamcheck runs through a wrapper that execs it under valgrind; tests/pam/run.sh
# is pointed at a build dir holding that wrapper and a copy of the module.
VALGRIND := valgrind -q --error-exitcode=99 --leak-check=full \
  --show-leak-kinds=definite,indirect --errors-for-leak-kinds=definite,indirect \
  --num-callers=30 --suppressions=$(abspath mk/valgrind.supp)

check-valgrind: $(PAM_MOD) $(BUILD)/tests/unit $(BUILD)/tests/pamcheck
	rm -rf $(VG_DIR) && mkdir -p $(VG_DIR)/tests $(VG_DIR)/logs $(VG_DIR)/tmp
	cp $(PAM_MOD) $(VG_DIR)/pam_xtoken.so
	printf '#!/bin/sh\nexec %s --log-file=%s/logs/pamcheck.%%p %s "$$@"\n' \
	  '$(VALGRIND)' '$(abspath $(VG_DIR))' '$(abspath $(BUILD)/tests/pamcheck)' \
	  >$(VG_DIR)/tests/pamcheck && chmod +x $(VG_DIR)/tests/pamcheck
	CK_FORK=no TMPDIR=$(abspath $(VG_DIR)/tmp) \
	  $(VALGRIND) --log-file=$(VG_DIR)/logs/unit.%p $(BUILD)/tests/unit
	tests/pam/run.sh $(VG_DIR)
	@bad=$$(find $(VG_DIR)/logs -type f -size +0 | sort); if [ -n "$$bad" ]; then \
	  for f in $$bad; do echo "== $$f"; cat $$f; done; \
	  echo "check-valgrind: memcheck errors or leaks above"; exit 1; fi
	@echo "check-valgrind: $$(ls $(VG_DIR)/logs | wc -l) processes under memcheck, 0 errors, 0 leaks"

CI_TARGETS += check-valgrind

# What the analyzers read: every C file of the product, plus bench and fuzz.
ANALYZE_SRCS := $(sort $(wildcard shared/*.c pam_xtoken/*.c xtoken/*.c lua/*.c credentials/*.c bench/*.c fuzz/*.c))
# -O2: _FORTIFY_SOURCE warns without optimisation. XTOKEN_CPPFLAGS (set in
# xtoken/xtoken.mk, included later: hence =) adds libyaml, Lua and the
# generated header of doctor_prosody.c.
ANALYZE_FLAGS = $(ALL_CPPFLAGS) $(XTOKEN_CPPFLAGS) -Icredentials -std=c11 -O2

analyze: analyze-cppcheck analyze-clang-tidy

# cppcheck >= 2.11 stops following the branches of a long function unless
# told otherwise, and says so (normalCheckLevelMaxBranches, which fails the
# run): follow them all where the option exists (2.17 on Debian 13: 3 s).
CPPCHECK_LEVEL := $(shell cppcheck --help 2>/dev/null | grep -q -e '--check-level' && echo --check-level=exhaustive)

analyze-cppcheck: $(BUILD)/gen/doctor_prosody_lua.h
	cppcheck --std=c11 $(CPPCHECK_LEVEL) --enable=warning,style,performance,portability --library=posix \
	  --inline-suppr --suppressions-list=.cppcheck-suppressions --error-exitcode=1 --quiet \
	  --template='{file}:{line}: {severity}: {message} [{id}]' \
	  -D_GNU_SOURCE -Ishared -Ixtoken -Icredentials -I$(XTOKEN_GEN) $(ANALYZE_SRCS)
	@echo "analyze: cppcheck clean on $(words $(ANALYZE_SRCS)) files"

# One file per clang-tidy process: clang-tidy 14 carries analyzer state from
# one file to the next within a run (a false "uninitialized va_list" in the
# second file's va_start functions).
# A .clang-tidy that clang-tidy cannot parse is reported on stderr and then
# ignored (exit 0, default checks): refuse that first.
analyze-clang-tidy: $(BUILD)/gen/doctor_prosody_lua.h
	@err=$$(clang-tidy --dump-config 2>&1 >/dev/null); \
	  if [ -n "$$err" ]; then echo "analyze: clang-tidy cannot read .clang-tidy: $$err" >&2; exit 1; fi
	printf '%s\n' $(ANALYZE_SRCS) | xargs -P 2 -I{} clang-tidy --quiet {} -- $(ANALYZE_FLAGS)
	@echo "analyze: clang-tidy clean on $(words $(ANALYZE_SRCS)) files"

CI_TARGETS += analyze
