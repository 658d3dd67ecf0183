# The xtoken command-line tool (issue 3): build/xtoken, make check-xtoken.
# Objects go to build/xtoken.o/ (build/xtoken itself is the program).
# XTOKEN_CORE_SRCS is every file but main.c: a fuzzer or test harness can
# link them to drive extauth_serve() / extauth_parse_request() directly.

XTOKEN_SRCS      := $(wildcard xtoken/*.c)
XTOKEN_CORE_SRCS := $(filter-out xtoken/main.c,$(XTOKEN_SRCS))
XTOKEN_OBJS      := $(XTOKEN_SRCS:xtoken/%.c=$(BUILD)/xtoken.o/%.o)
XTOKEN           := $(BUILD)/xtoken

.PHONY: check-xtoken
all: $(XTOKEN)

$(BUILD)/xtoken.o/%.o: xtoken/%.c xtoken/*.h shared/xtoken.h
	@mkdir -p $(@D)
	$(CC) $(ALL_CPPFLAGS) -Ixtoken $(ALL_CFLAGS) -c -o $@ $<

$(XTOKEN): $(XTOKEN_OBJS) $(LIB)
	$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $(XTOKEN_OBJS) $(LIB) $(LIBS)

check-xtoken: $(XTOKEN)
	XTOKEN=$(abspath $(XTOKEN)) tests/xtoken/run

CHECK_TARGETS += check-xtoken
