# Packaging targets (included by the top-level Makefile); docs/PACKAGING.md
# says how to use them.
#
#   make packages                       .deb and .rpm in dist/
#   make install [DESTDIR=] [PREFIX=/usr]
#   make uninstall [DESTDIR=] [PREFIX=/usr]
#   make package-test                   lint, install and remove both packages
#                                       for real (root; packaging/test-packages.sh)
#
# One description: `install` lays out every file; both packages are built
# from that same staged tree (dpkg-deb and rpmbuild only add metadata and
# the maintainer scripts, which share packaging/scripts/lib.sh).

VERSION     ?= 0.1.0
PKG_RELEASE ?= 1
DIST        ?= dist
PKGBUILD    ?= $(BIN)/pkg
DEB_ARCH    ?= $(shell dpkg --print-architecture 2>/dev/null || $(GO) env GOARCH)
RPM_ARCH    ?= $(shell uname -m)
DEB_FILE     = $(DIST)/virtswitch_$(VERSION)-$(PKG_RELEASE)_$(DEB_ARCH).deb
RPM_FILE     = $(DIST)/virtswitch-$(VERSION)-$(PKG_RELEASE).$(RPM_ARCH).rpm
# Set to a gpg key id (in the caller's keyring) to sign the .rpm.
RPM_SIGN_KEY ?=

# Static, reproducible binaries: no cgo, no local paths, no symbol tables
# (both distributions want stripped binaries); virtswitchd gets the version.
PKG_GOFLAGS  = -trimpath -buildvcs=false
PKG_LDFLAGS  = -s -w -buildid= -X main.version=$(VERSION)

# Source installs: same layout as the packages by default. The systemd and
# D-Bus directories are where those programs look, whatever PREFIX is.
PREFIX      ?= /usr
SBINDIR     ?= $(PREFIX)/sbin
BINDIR      ?= $(PREFIX)/bin
MANDIR      ?= $(PREFIX)/share/man
SYSCONFDIR  ?= /etc
UNITDIR     ?= /usr/lib/systemd/system
DBUSDIR     ?= /usr/share/dbus-1
HOOKDIR      = $(SYSCONFDIR)/libvirt/hooks/qemu.d

PKG_SCRIPTS  = deb/postinst deb/prerm deb/postrm rpm/post rpm/preun rpm/postun
PKG_MANPAGES = man1/virtswitchctl.1 man8/virtswitchd.8 man8/virtswitch-hook.8
# Fixed timestamps inside the packages (reproducible builds).
SOURCE_DATE_EPOCH ?= $(shell git log -1 --format=%ct 2>/dev/null || echo 0)

.PHONY: packages deb rpm install uninstall package-test pkg-binaries pkg-scripts

# Each binary from its package; go's build cache makes repeats cheap.
pkg-binaries:
	mkdir -p $(PKGBUILD)
	CGO_ENABLED=0 $(GO) build $(PKG_GOFLAGS) -ldflags '$(PKG_LDFLAGS)' -o $(PKGBUILD)/virtswitchd ./dbusd
	CGO_ENABLED=0 $(GO) build $(PKG_GOFLAGS) -ldflags '$(PKG_LDFLAGS)' -o $(PKGBUILD)/virtswitch-hook ./hookbin
	CGO_ENABLED=0 $(GO) build $(PKG_GOFLAGS) -ldflags '$(PKG_LDFLAGS)' -o $(PKGBUILD)/virtswitchctl ./virtswitchctl

# Maintainer scripts: shebang, set -e, the format's unit tool (Debian's
# deb-systemd-invoke honours policy-rc.d), the shared lib, the entry point.
pkg-scripts:
	mkdir -p $(PKGBUILD)/scripts/deb $(PKGBUILD)/scripts/rpm
	for s in $(PKG_SCRIPTS); do \
		case $$s in deb/*) ctl=deb-systemd-invoke;; *) ctl=systemctl;; esac; \
		{ printf '#!/bin/sh\nset -e\n\nVSW_SYSTEMCTL=%s\n' $$ctl; cat packaging/scripts/lib.sh; echo; \
		  cat packaging/scripts/$$s; } > $(PKGBUILD)/scripts/$$s.tmp && \
		sh -n $(PKGBUILD)/scripts/$$s.tmp && \
		mv $(PKGBUILD)/scripts/$$s.tmp $(PKGBUILD)/scripts/$$s || exit 1; \
	done

# Files only: enabling/starting the service and reloading the bus are the
# admin's steps (docs/PACKAGING.md). Never touches hooks/qemu itself.
# (The package staging below builds once, then installs with INSTALL_DEPS=.)
INSTALL_DEPS ?= pkg-binaries
install: $(INSTALL_DEPS)
	install -d -m 0755 $(DESTDIR)$(SBINDIR) $(DESTDIR)$(BINDIR) $(DESTDIR)$(HOOKDIR) \
		$(DESTDIR)$(SYSCONFDIR)/virtswitch/networks $(DESTDIR)$(UNITDIR) \
		$(DESTDIR)$(DBUSDIR)/system.d $(DESTDIR)$(DBUSDIR)/system-services \
		$(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man8
	install -m 0755 $(PKGBUILD)/virtswitchd $(DESTDIR)$(SBINDIR)/virtswitchd
	install -m 0755 $(PKGBUILD)/virtswitch-hook $(DESTDIR)$(SBINDIR)/virtswitch-hook
	install -m 0755 $(PKGBUILD)/virtswitchctl $(DESTDIR)$(BINDIR)/virtswitchctl
	ln -sfn $(SBINDIR)/virtswitch-hook $(DESTDIR)$(HOOKDIR)/virtswitch
	sed 's|/usr/sbin/virtswitchd|$(SBINDIR)/virtswitchd|g' packaging/systemd/virtswitchd.service > $(PKGBUILD)/virtswitchd.service
	install -m 0644 $(PKGBUILD)/virtswitchd.service $(DESTDIR)$(UNITDIR)/virtswitchd.service
	install -m 0644 packaging/dbus/io.github.virtswitch1.conf $(DESTDIR)$(DBUSDIR)/system.d/io.github.virtswitch1.conf
	sed 's|/usr/sbin/virtswitchd|$(SBINDIR)/virtswitchd|g' packaging/dbus/io.github.virtswitch1.service > $(PKGBUILD)/io.github.virtswitch1.service
	install -m 0644 $(PKGBUILD)/io.github.virtswitch1.service $(DESTDIR)$(DBUSDIR)/system-services/io.github.virtswitch1.service
	for m in $(PKG_MANPAGES); do \
		gzip -9n < packaging/man/$$(basename $$m) > $(DESTDIR)$(MANDIR)/$$m.gz && \
		chmod 0644 $(DESTDIR)$(MANDIR)/$$m.gz || exit 1; \
	done

# Removes what install put; network definitions stay unless the dir is empty.
uninstall:
	rm -f $(DESTDIR)$(SBINDIR)/virtswitchd $(DESTDIR)$(SBINDIR)/virtswitch-hook \
		$(DESTDIR)$(BINDIR)/virtswitchctl $(DESTDIR)$(HOOKDIR)/virtswitch \
		$(DESTDIR)$(UNITDIR)/virtswitchd.service \
		$(DESTDIR)$(DBUSDIR)/system.d/io.github.virtswitch1.conf \
		$(DESTDIR)$(DBUSDIR)/system-services/io.github.virtswitch1.service \
		$(addsuffix .gz,$(addprefix $(DESTDIR)$(MANDIR)/,$(PKG_MANPAGES)))
	-rmdir $(DESTDIR)$(SYSCONFDIR)/virtswitch/networks $(DESTDIR)$(SYSCONFDIR)/virtswitch 2>/dev/null
	-rmdir $(DESTDIR)$(HOOKDIR) 2>/dev/null

packages: pkg-binaries
	$(MAKE) --no-print-directory deb rpm PKG_BUILT=1
	@ls -l $(DEB_FILE) $(RPM_FILE)

# The staged tree of the packages: `install` with PREFIX=/usr, into a fresh dir.
pkg-stage-%: $(if $(PKG_BUILT),,pkg-binaries)
	rm -rf $(PKGBUILD)/stage-$*
	$(MAKE) --no-print-directory install INSTALL_DEPS= DESTDIR=$(abspath $(PKGBUILD)/stage-$*) PREFIX=/usr \
		SBINDIR=/usr/sbin BINDIR=/usr/bin MANDIR=/usr/share/man SYSCONFDIR=/etc \
		UNITDIR=/usr/lib/systemd/system DBUSDIR=/usr/share/dbus-1 >/dev/null

deb: pkg-stage-deb pkg-scripts
	$(eval S := $(PKGBUILD)/stage-deb)
	install -d -m 0755 $(S)/DEBIAN $(S)/usr/share/doc/virtswitch $(S)/usr/share/lintian/overrides
	install -m 0644 packaging/copyright $(S)/usr/share/doc/virtswitch/copyright
	install -m 0644 README.md $(S)/usr/share/doc/virtswitch/README.md
	gzip -9n < packaging/deb/changelog > $(S)/usr/share/doc/virtswitch/changelog.Debian.gz
	chmod 0644 $(S)/usr/share/doc/virtswitch/changelog.Debian.gz
	install -m 0644 packaging/deb/lintian-overrides $(S)/usr/share/lintian/overrides/virtswitch
	for s in postinst prerm postrm; do install -m 0755 $(PKGBUILD)/scripts/deb/$$s $(S)/DEBIAN/$$s; done
	cd $(S) && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | LC_ALL=C sort -z | \
		xargs -0 md5sum > DEBIAN/md5sums && chmod 0644 DEBIAN/md5sums
	sed -e 's/@VERSION@/$(VERSION)/' -e 's/@RELEASE@/$(PKG_RELEASE)/' -e 's/@DEB_ARCH@/$(DEB_ARCH)/' \
		-e "s/@INSTALLED_SIZE@/$$(du -sk --exclude=DEBIAN $(S) | cut -f1)/" \
		packaging/deb/control.in > $(S)/DEBIAN/control
	find $(S) -exec touch -h -d @$(SOURCE_DATE_EPOCH) {} +
	mkdir -p $(DIST)
	SOURCE_DATE_EPOCH=$(SOURCE_DATE_EPOCH) dpkg-deb -Zxz --root-owner-group --build $(S) $(DEB_FILE)

# rpmbuild (Debian's `rpm` package) wraps the same staged tree. Its payload
# holds ./-relative names, so rpm2cpio | cpio never writes outside its dir.
rpm: pkg-stage-rpm pkg-scripts
	@command -v rpmbuild >/dev/null || { echo "rpmbuild not found (Debian: apt-get install rpm)"; exit 1; }
	$(eval S := $(PKGBUILD)/stage-rpm)
	install -d -m 0755 $(S)/usr/share/doc/virtswitch $(S)/usr/share/licenses/virtswitch
	install -m 0644 README.md $(S)/usr/share/doc/virtswitch/README.md
	install -m 0644 packaging/copyright $(S)/usr/share/licenses/virtswitch/copyright
	rm -rf $(PKGBUILD)/rpmbuild
	mkdir -p $(DIST) $(PKGBUILD)/rpmbuild
	SOURCE_DATE_EPOCH=$(SOURCE_DATE_EPOCH) rpmbuild -bb --nodeps --quiet \
		--define '_topdir $(abspath $(PKGBUILD)/rpmbuild)' \
		--define '_rpmdir $(abspath $(DIST))' \
		--define '_build_name_fmt %%{NAME}-%%{VERSION}-%%{RELEASE}.%%{ARCH}.rpm' \
		--define 'use_source_date_epoch_as_buildtime 1' \
		--define 'clamp_mtime_to_source_date_epoch 1' \
		--define 'vsw_version $(VERSION)' --define 'vsw_release $(PKG_RELEASE)' \
		--define 'vsw_stage $(abspath $(S))' \
		--define 'vsw_scripts $(abspath $(PKGBUILD)/scripts/rpm)' \
		--target $(RPM_ARCH) packaging/rpm/virtswitch.spec
	if [ -n "$(RPM_SIGN_KEY)" ]; then rpmsign --addsign --define "__gpg $$(command -v gpg)" --define '_gpg_name $(RPM_SIGN_KEY)' $(RPM_FILE) </dev/null; fi

# Root only: really installs and purges the .deb on this machine, installs
# and erases the .rpm in a scratch root.
# (Installs the Debian packages it needs first: lintian, rpm, rpmlint, ...)
package-test:
	bash packaging/test-packages.sh --install-tools
	$(MAKE) --no-print-directory packages
	bash packaging/test-packages.sh $(DEB_FILE) $(RPM_FILE)
