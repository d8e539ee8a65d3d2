# floodgate: one plain GNU Makefile. `make check` and `make demo` install
# the Debian packages they lack (tests/install-deps.sh) before building.

PREFIX     ?= /usr/local
DESTDIR    ?=
sbindir    ?= $(PREFIX)/sbin
sysconfdir ?= /etc
mandir     ?= $(PREFIX)/share/man
docdir     ?= $(PREFIX)/share/doc/floodgate
unitdir    ?= /lib/systemd/system
sysusersdir ?= /usr/lib/sysusers.d
tmpfilesdir ?= /usr/lib/tmpfiles.d

CC      ?= cc
PKGS     = libevent libevent_pthreads sqlite3 libsystemd hiredis libidn2
LDLIBS   = $(shell pkg-config --libs $(PKGS) 2>/dev/null) -pthread

# CFLAGS, CPPFLAGS and LDFLAGS are the builder's: a distribution's build
# flags (dpkg-buildflags), make CFLAGS="-Og -g" to debug. Given in the
# environment or on the command line, they come after floodgate's own,
# which they never replace.
CFLAGS  ?= -O2 -g
FG_CFLAGS = -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -pthread \
           -DFG_SYSCONFDIR='"$(sysconfdir)"' -Ilib
FG_LDFLAGS =

# Debian's hardening: checked buffers, stack protector, PIE, full RELRO.
# _FORTIFY_SOURCE=2 unless the builder's flags or the compiler set a
# level already (dpkg-buildflags gives one in CPPFLAGS, Ubuntu's gcc
# defines one by itself: another value given again is an error under
# -Werror), and only where it works, with optimisation. A sanitizer
# build leaves it out, which ASan replaces: after the builder's flags,
# so that theirs is undone too.
FG_CFLAGS  += -fstack-protector-strong -fPIE
FG_LDFLAGS += -pie -Wl,-z,relro -Wl,-z,now
FG_LATE  =
ifeq ($(SANITIZE),1)
FG_CFLAGS  += -fsanitize=address,undefined -fno-omit-frame-pointer \
           -fno-sanitize-recover=undefined
FG_LDFLAGS += -fsanitize=address,undefined
FG_LATE  = -U_FORTIFY_SOURCE
else ifeq ($(SANITIZE),thread)
FG_CFLAGS  += -fsanitize=thread -fno-omit-frame-pointer
FG_LDFLAGS += -fsanitize=thread
FG_LATE  = -U_FORTIFY_SOURCE
else
FORTIFY := $(shell printf '\043if defined __OPTIMIZE__ && !defined _FORTIFY_SOURCE\nFORTIFY_UNSET\n\043endif\n' | \
    $(CC) $(CPPFLAGS) $(CFLAGS) -E -P -x c - 2>/dev/null)
ifneq ($(findstring FORTIFY_UNSET,$(FORTIFY)),)
FG_CFLAGS  += -D_FORTIFY_SOURCE=2
endif
endif
# What every compile and link of this Makefile is given.
ALL_CFLAGS  = $(FG_CFLAGS) $(CPPFLAGS) $(CFLAGS) $(FG_LATE)
ALL_LDFLAGS = $(FG_LDFLAGS) $(LDFLAGS)

# A sanitizer build lives apart, so that the builds never mix objects:
# build-san (SANITIZE=1: ASan and UBSan), build-tsan (SANITIZE=thread).
B        = build$(if $(filter 1,$(SANITIZE)),-san)$(if $(filter thread,$(SANITIZE)),-tsan)
LIB_SRC  = $(wildcard lib/*.c)
LIB_OBJ  = $(LIB_SRC:lib/%.c=$(B)/lib/%.o)
CTL_SRC  = milter/floodgatectl.c $(wildcard milter/ctl_*.c)
CTL_OBJ  = $(CTL_SRC:milter/%.c=$(B)/milter/%.o)
D_SRC    = $(filter-out $(CTL_SRC),$(wildcard milter/*.c))
D_OBJ    = $(D_SRC:milter/%.c=$(B)/milter/%.o)
# milter/ modules with unit tests of their own: linked into those tests.
UNIT_MILTER = $(B)/milter/session.o $(B)/milter/ctl_render.o
UNIT_SRC = $(wildcard tests/unit/test_*.c)
UNIT_BIN = $(UNIT_SRC:tests/unit/%.c=$(B)/tests/%)

BENCH_BIN = $(B)/bench/fgload $(B)/bench/fgscale $(B)/bench/nullmilter \
    $(B)/bench/floormilter $(B)/bench/fglog $(B)/bench/fgrscript
FUZZ_TARGETS = config address account_map control milter maillog socketmap mtacheck
FUZZ_REPLAY  = $(FUZZ_TARGETS:%=$(B)/fuzz/replay_%)
FUZZ_SECONDS ?= 600
FUZZ_MAX_LEN ?= 4096

.PHONY: all everything deps check flags unit e2e demo bench fuzz soak install clean FORCE

all: $(B)/floodgate $(B)/floodgatectl

# What make check builds: the bench tools too, so that a change of the
# library they call cannot leave make bench broken unseen.
everything: all $(UNIT_BIN) $(FUZZ_REPLAY) $(BENCH_BIN)

deps:
	@sh tests/install-deps.sh

# Objects depend on the Makefile too: a change of flags rebuilds them.
$(B)/lib/%.o: lib/%.c lib/*.h Makefile | $(B)/lib
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(B)/milter/%.o: milter/%.c milter/*.h lib/*.h Makefile | $(B)/milter
	$(CC) $(ALL_CFLAGS) -Imilter -c -o $@ $<

$(B)/libfloodgate.a: $(LIB_OBJ)
	$(AR) rcs $@ $^

$(B)/floodgate: $(D_OBJ) $(B)/libfloodgate.a
	$(CC) $(ALL_LDFLAGS) -o $@ $^ -lmilter $(LDLIBS)

$(B)/floodgatectl: $(CTL_OBJ) $(B)/libfloodgate.a
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LDLIBS)

# Tests that run floodgate's code out of memory (tests/unit/nomem.h).
UNIT_NOMEM = test_address test_blocks test_config test_inspect test_limiter \
	test_session
UNIT_WRAP =
$(UNIT_NOMEM:%=$(B)/tests/%): UNIT_WRAP = -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc,--wrap=idn2_to_ascii_8z

$(B)/tests/%: tests/unit/%.c tests/unit/*.h $(UNIT_MILTER) $(B)/libfloodgate.a | $(B)/tests
	$(CC) $(ALL_CFLAGS) -Itests/unit -Imilter $(ALL_LDFLAGS) $(UNIT_WRAP) -o $@ $< \
	    $(UNIT_MILTER) $(B)/libfloodgate.a -lcmocka $(LDLIBS)

$(B)/bench/fgload: tests/bench/fgload.c tests/bench/clock.h | $(B)/bench
	$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $< -pthread

$(B)/bench/fgscale: tests/bench/fgscale.c tests/bench/clock.h $(B)/libfloodgate.a | $(B)/bench
	$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $< $(B)/libfloodgate.a $(LDLIBS)

$(B)/bench/fglog: tests/bench/fglog.c tests/bench/clock.h $(B)/libfloodgate.a | $(B)/bench
	$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $< $(B)/libfloodgate.a $(LDLIBS)

$(B)/bench/fgrscript: tests/bench/fgrscript.c $(B)/libfloodgate.a | $(B)/bench
	$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $< $(B)/libfloodgate.a $(LDLIBS)

$(B)/bench/floormilter: tests/bench/floormilter.c $(B)/libfloodgate.a | $(B)/bench
	$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $< $(B)/libfloodgate.a

$(B)/bench/nullmilter: tests/bench/nullmilter.c | $(B)/bench
	$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $< -lmilter -pthread

# make check replays every seed and every crash ever found through each
# fuzz target, built with the ordinary compiler (and sanitizers if asked).
$(B)/fuzz/replay_%: tests/fuzz/fuzz_%.c tests/fuzz/replay.c $(B)/libfloodgate.a | $(B)/fuzz
	$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ tests/fuzz/fuzz_$*.c tests/fuzz/replay.c \
	    $(B)/libfloodgate.a $(LDLIBS)

$(B)/lib $(B)/milter $(B)/tests $(B)/bench $(B)/fuzz:
	mkdir -p $@

# floodgate and floodgatectl name the default configuration,
# $(sysconfdir)/floodgate/floodgate.conf: a make with another sysconfdir
# (make install sysconfdir=... after make) rebuilds the two objects that
# name it. The file changes only when the path does.
$(B)/milter/sysconfdir: FORCE | $(B)/milter
	@echo '$(sysconfdir)' | cmp -s - $@ || echo '$(sysconfdir)' > $@
$(B)/milter/main.o $(B)/milter/floodgatectl.o: $(B)/milter/sysconfdir
FORCE:

unit: $(UNIT_BIN) $(FUZZ_REPLAY)
	@set -e; for t in $(UNIT_BIN); do echo "== $$t"; $$t; done
	@set -e; for t in $(FUZZ_TARGETS); do echo "== fuzz replay $$t"; \
	    $(B)/fuzz/replay_$$t tests/fuzz/corpus/$$t tests/fuzz/crashes/$$t; done

# t23, t28 and t35 drive floodgate with fgload, the bench's load tool.
e2e: all $(B)/bench/fgload
	@FLOODGATE=$(abspath $(B)/floodgate) bash tests/e2e/run.sh

check: deps
	$(MAKE) everything
	$(if $(SANITIZE),,$(MAKE) flags)
	$(MAKE) unit
	$(MAKE) e2e

# Everything again with a builder's flags (tests/flags.sh; build-flags/).
flags: all
	@[ -z "$(SANITIZE)" ] || { echo "make flags: a check of the plain build (no SANITIZE)"; exit 2; }
	@sh tests/flags.sh "$(MAKE)" $(B)

demo: deps
	$(MAKE) all
	@FLOODGATE=$(abspath $(B)/floodgate) bash tests/e2e/demo.sh

# Not part of check: it takes minutes and its numbers are for people.
bench: deps
	$(MAKE) all $(BENCH_BIN)
	@BENCH=$(abspath $(B)) bash tests/bench/run.sh

# Not part of check: the shared store under random faults, SOAK_SECONDS
# (default 300); SANITIZE=1 runs it on the sanitizer build.
SOAK_SECONDS ?= 300
soak: deps
	$(MAKE) all $(B)/bench/fgload
	@FLOODGATE=$(abspath $(B)/floodgate) SOAK_SECONDS=$(SOAK_SECONDS) \
	    bash tests/e2e/soak_shared.sh

# libFuzzer (clang): each target for FUZZ_SECONDS (default 600), inputs of
# FUZZ_MAX_LEN bytes at most (default 4096). New
# inputs go to build/fuzz-work; crashes to tests/fuzz/crashes/TARGET/,
# which make check replays from then on.
fuzz: deps
	@command -v clang >/dev/null || { echo "make fuzz needs clang and libclang-rt-14-dev"; exit 1; }
	@mkdir -p build/fuzz-bin
	@set -e; for t in $(FUZZ_TARGETS); do \
	    clang -g -O1 -std=c11 -D_GNU_SOURCE -Ilib -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
	        -o build/fuzz-bin/fuzz_$$t tests/fuzz/fuzz_$$t.c $(LIB_SRC) $(LDLIBS); \
	done
	@failed=; for t in $(FUZZ_TARGETS); do \
	    mkdir -p build/fuzz-work/$$t tests/fuzz/crashes/$$t; \
	    echo "== fuzz $$t for $(FUZZ_SECONDS) s"; \
	    if build/fuzz-bin/fuzz_$$t -max_total_time=$(FUZZ_SECONDS) -max_len=$(FUZZ_MAX_LEN) \
	        -artifact_prefix=tests/fuzz/crashes/$$t/ build/fuzz-work/$$t \
	        tests/fuzz/corpus/$$t > build/fuzz-work/$$t.log 2>&1; then \
	        tail -3 build/fuzz-work/$$t.log; \
	    else \
	        grep -E -A12 '^==[0-9]+==ERROR|runtime error' build/fuzz-work/$$t.log | head -40; \
	        echo "fuzz $$t: FAILED, the input kept in tests/fuzz/crashes/$$t/ (build/fuzz-work/$$t.log)"; \
	        failed="$$failed $$t"; \
	    fi; \
	done; \
	if [ -n "$$failed" ]; then echo "make fuzz: failed:$$failed"; exit 1; fi

install: all
	install -d $(DESTDIR)$(sbindir) $(DESTDIR)$(sysconfdir)/floodgate $(DESTDIR)$(docdir) \
	    $(DESTDIR)$(mandir)/man5 $(DESTDIR)$(mandir)/man8 \
	    $(DESTDIR)$(unitdir) $(DESTDIR)$(sysusersdir) $(DESTDIR)$(tmpfilesdir)
	install -m 0755 $(B)/floodgate $(DESTDIR)$(sbindir)/floodgate
	install -m 0755 $(B)/floodgatectl $(DESTDIR)$(sbindir)/floodgatectl
	@# floodgate runs as user floodgate and must read the configuration
	@# and the map, which tenants must not (they name accounts): their
	@# group now if it exists, else tmpfiles.d's "z" lines set it at
	@# systemd-tmpfiles --create (and at every boot).
	for f in floodgate.conf:conf/floodgate.conf accounts:conf/accounts.example; do \
	    to=$(DESTDIR)$(sysconfdir)/floodgate/$${f%%:*}; \
	    if [ ! -e $$to ]; then \
	        install -m 0640 $${f#*:} $$to || exit 1; \
	        if [ -z "$(DESTDIR)" ] && getent group floodgate >/dev/null; then \
	            chgrp floodgate $$to || exit 1; fi; \
	    fi; \
	done
	install -m 0644 conf/floodgate.conf $(DESTDIR)$(sysconfdir)/floodgate/floodgate.conf.sample
	install -m 0644 README.md $(DESTDIR)$(docdir)/README.md
	install -m 0644 milter/floodgate.8 milter/floodgatectl.8 $(DESTDIR)$(mandir)/man8/
	install -m 0644 conf/floodgate.conf.5 $(DESTDIR)$(mandir)/man5/
	sed 's|@SBINDIR@|$(sbindir)|g; s|@SYSCONFDIR@|$(sysconfdir)|g; s|@DOCDIR@|$(docdir)|g' \
	    systemd/floodgate.service.in > $(DESTDIR)$(unitdir)/floodgate.service
	sed 's|@SBINDIR@|$(sbindir)|g; s|@SYSCONFDIR@|$(sysconfdir)|g; s|@DOCDIR@|$(docdir)|g' \
	    systemd/floodgate-release.service.in > $(DESTDIR)$(unitdir)/floodgate-release.service
	install -m 0644 systemd/floodgate-release.timer $(DESTDIR)$(unitdir)/floodgate-release.timer
	chmod 0644 $(DESTDIR)$(unitdir)/floodgate.service $(DESTDIR)$(unitdir)/floodgate-release.service
	install -m 0644 systemd/floodgate.sysusers $(DESTDIR)$(sysusersdir)/floodgate.conf
	sed 's|@SYSCONFDIR@|$(sysconfdir)|g' systemd/floodgate.tmpfiles.in > \
	    $(DESTDIR)$(tmpfilesdir)/floodgate.conf
	chmod 0644 $(DESTDIR)$(tmpfilesdir)/floodgate.conf

clean:
	rm -rf build build-san build-tsan build-clang build-flags build-flags.log
