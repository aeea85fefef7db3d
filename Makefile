# Portico build. `make` builds every artifact into build/; `make test` is CI.
#
# Conventions (so that adding a file never needs a Makefile edit):
#   <component>/**/*.c      library sources of the component, except main.c
#   <component>/main.c      the program's entry point
#   tests/unit/<comp>/test_*.c   cmocka tests, linked with the component's
#                                library objects; built plain and with ASan+UBSan
#   tests/fuzz/<comp>/fuzz_*.c   libFuzzer targets (clang)

BUILD      ?= build
CC         ?= cc
CLANG      ?= clang
PYTEST     ?= /usr/bin/python3 -m pytest
NGX_SRC    ?= /usr/share/nginx/src

WARN       := -Wall -Wextra -Werror -Wshadow -Wpointer-arith -Wstrict-prototypes \
              -Wmissing-prototypes -Wno-unused-parameter
CSTD       := -std=gnu11 -D_GNU_SOURCE
OPT        ?= -O2 -g
INCLUDES   := -I. -Ilib $(shell pkg-config --cflags json-c 2>/dev/null)
CFLAGS_ALL := $(CSTD) $(OPT) $(WARN) $(INCLUDES) -fPIC -MMD -MP $(CFLAGS)
ASAN       := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined

# --- components -----------------------------------------------------------
srcs_of     = $(shell find $(1) -name '*.c' ! -name main.c 2>/dev/null | sort)

COMP_lib_SRCS        := $(call srcs_of,lib)
COMP_lib_LIBS        := -lmicrohttpd -lpthread -lm

COMP_dnscache_SRCS   := $(COMP_lib_SRCS) $(call srcs_of,sidecar-dnsmasq)
COMP_dnscache_LIBS   := -lcares $(COMP_lib_LIBS)

COMP_vault_SRCS      := $(COMP_lib_SRCS) $(call srcs_of,vault)
COMP_vault_LIBS      := -lcurl -ljson-c -lssl -lcrypto $(COMP_lib_LIBS)

COMP_controller_SRCS := $(COMP_vault_SRCS) $(call srcs_of,controller)
COMP_controller_LIBS := -lyaml -lpcre2-8 -lz $(COMP_vault_LIBS)

COMPONENTS := lib dnscache vault controller

obj     = $(patsubst %.c,$(BUILD)/obj/%.o,$(1))
asanobj = $(patsubst %.c,$(BUILD)/asan/%.o,$(1))

PROGRAMS := $(BUILD)/portico-dnscache $(BUILD)/portico-vault \
            $(BUILD)/portico-controller
NGX_MODULE := $(BUILD)/ngx_http_upstream_resolve_module.so

.PHONY: all deps test unit unit-asan fuzz fuzz-smoke integration run clean \
        image pod-test \
        bench-dns bench-module bench-module-start bench-tls bench-controller \
        bench-table-shards \
        check-leftovers check-call-cycles

all: $(PROGRAMS) $(NGX_MODULE) unit-bins

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -c $< -o $@

$(BUILD)/asan/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) $(ASAN) -c $< -o $@

$(BUILD)/portico-dnscache: $(call obj,$(COMP_dnscache_SRCS) sidecar-dnsmasq/main.c)
	$(CC) -o $@ $^ $(COMP_dnscache_LIBS)

$(BUILD)/portico-vault: $(call obj,$(COMP_vault_SRCS) vault/main.c)
	$(CC) -o $@ $^ $(COMP_vault_LIBS)

$(BUILD)/portico-controller: $(call obj,$(COMP_controller_SRCS) controller/main.c)
	$(CC) -o $@ $^ $(COMP_controller_LIBS)

# --- nginx dynamic module (built by nginx's own configure, from nginx-dev) --
NGX_BUILDDIR := $(abspath $(BUILD)/ngx)
NGX_MODULE_SRCS := $(wildcard ngx_module/*.c ngx_module/*.h) config

$(NGX_BUILDDIR)/Makefile: config
	@mkdir -p $(NGX_BUILDDIR)
	cd $(NGX_SRC) && bash -c '. ./conf_flags && ./configure \
	    --with-cc-opt="$$(dpkg-buildflags --get CFLAGS) -fPIC $$(dpkg-buildflags --get CPPFLAGS)" \
	    --with-ld-opt="$$(dpkg-buildflags --get LDFLAGS) -fPIC" \
	    "$${NGX_CONF_FLAGS[@]}" \
	    --add-dynamic-module=$(CURDIR) \
	    --builddir=$(NGX_BUILDDIR)' > $(NGX_BUILDDIR)/configure.log 2>&1 \
	  || { cat $(NGX_BUILDDIR)/configure.log; exit 1; }

$(NGX_MODULE): $(NGX_BUILDDIR)/Makefile $(NGX_MODULE_SRCS)
	$(MAKE) -s -f $(NGX_BUILDDIR)/Makefile -C $(NGX_SRC) modules
	cp $(NGX_BUILDDIR)/ngx_http_upstream_resolve_module.so $@

# --- unit tests ----------------------------------------------------------
UNIT_BINS :=
UNIT_ASAN_BINS :=
define unit_template
$(BUILD)/unit/$(1)/$(basename $(notdir $(2))): $(call obj,$(2) $(COMP_$(1)_SRCS))
	@mkdir -p $$(dir $$@)
	$$(CC) -o $$@ $$^ -lcmocka $(COMP_$(1)_LIBS)
$(BUILD)/unit-asan/$(1)/$(basename $(notdir $(2))): $(call asanobj,$(2) $(COMP_$(1)_SRCS))
	@mkdir -p $$(dir $$@)
	$$(CC) $(ASAN) -o $$@ $$^ -lcmocka $(COMP_$(1)_LIBS)
UNIT_BINS += $(BUILD)/unit/$(1)/$(basename $(notdir $(2)))
UNIT_ASAN_BINS += $(BUILD)/unit-asan/$(1)/$(basename $(notdir $(2)))
endef
$(foreach c,$(COMPONENTS),$(foreach t,$(sort $(wildcard tests/unit/$(c)/test_*.c)),\
    $(eval $(call unit_template,$(c),$(t)))))

unit-bins: $(UNIT_BINS) $(UNIT_ASAN_BINS)

unit: $(UNIT_BINS)
	@scripts/run-unit-tests $(UNIT_BINS)

unit-asan: $(UNIT_ASAN_BINS)
	@ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	 scripts/run-unit-tests $(UNIT_ASAN_BINS)

# --- fuzzing (libFuzzer) -------------------------------------------------
FUZZ_FLAGS := $(CSTD) -g -O1 $(INCLUDES) -fsanitize=fuzzer,address,undefined
FUZZ_BINS :=
define fuzz_template
$(BUILD)/fuzz/$(1)/$(basename $(notdir $(2))): $(2) $(COMP_$(1)_SRCS)
	@mkdir -p $$(dir $$@)
	$(CLANG) $(FUZZ_FLAGS) -o $$@ $$^ $(COMP_$(1)_LIBS)
FUZZ_BINS += $(BUILD)/fuzz/$(1)/$(basename $(notdir $(2)))
endef
$(foreach c,$(COMPONENTS),$(foreach t,$(sort $(wildcard tests/fuzz/$(c)/fuzz_*.c)),\
    $(eval $(call fuzz_template,$(c),$(t)))))

FUZZ_SECONDS ?= 300
fuzz: $(FUZZ_BINS)
	@scripts/run-fuzzers $(FUZZ_SECONDS) $(FUZZ_BINS)

fuzz-smoke: $(FUZZ_BINS)
	@scripts/run-fuzzers 15 $(FUZZ_BINS)

# --- integration ---------------------------------------------------------
$(BUILD)/tools/helm:
	scripts/install-helm $(BUILD)/tools

integration: $(PROGRAMS) $(NGX_MODULE) $(BUILD)/tools/helm
	cd tests/integration && PORTICO_BUILD=$(abspath $(BUILD)) $(PYTEST) -q -ra \
	    -p no:cacheprovider --basetemp=$(abspath $(BUILD))/pytest-tmp \
	    -m "not pod" $(PYTEST_ARGS) .

# The container image (podman, base image from Debian's mirror by
# debootstrap), and the pod test that runs the chart's pod from it.
image:
	@scripts/build-image

pod-test: $(PROGRAMS) $(NGX_MODULE) $(BUILD)/tools/helm image
	cd tests/integration && PORTICO_BUILD=$(abspath $(BUILD)) $(PYTEST) -q -ra \
	    -p no:cacheprovider --basetemp=$(abspath $(BUILD))/pytest-tmp-pod \
	    -m pod $(PYTEST_ARGS) .

check-leftovers:
	@scripts/check-leftovers

# No call cycle between the files of a component (nm on the objects).
check-call-cycles: $(PROGRAMS) $(NGX_MODULE)
	@scripts/check-call-cycles $(BUILD)

deps:
	@scripts/install-deps

# `make test` is what CI runs. deps first, then a fresh make, so that a
# missing package is installed before anything tries to use it.
test:
	@scripts/install-deps
	@$(MAKE) --no-print-directory all
	@$(MAKE) --no-print-directory check-call-cycles unit unit-asan fuzz-smoke \
	    integration
	@$(MAKE) --no-print-directory pod-test
	@$(MAKE) --no-print-directory check-leftovers

run:
	@scripts/install-deps
	@$(MAKE) --no-print-directory $(PROGRAMS) $(NGX_MODULE)
	@scripts/run-local

bench-dns: $(BUILD)/portico-dnscache
	bench/bench-dns

bench-module: $(NGX_MODULE)
	bench/bench-module

bench-module-start: $(PROGRAMS) $(NGX_MODULE)
	bench/bench-module-start

bench-tls: $(NGX_MODULE)
	bench/bench-tls

bench-controller: $(PROGRAMS) $(NGX_MODULE)
	bench/bench-controller

bench-table-shards: $(NGX_MODULE)
	bench/bench-table-shards

clean:
	rm -rf $(BUILD)

-include $(shell find $(BUILD)/obj $(BUILD)/asan -name '*.d' 2>/dev/null)
