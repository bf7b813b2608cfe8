# End-to-end suite (included by the top-level Makefile). docs/E2E.md says
# what it needs and does: root on Debian 12; it installs libvirt and QEMU.
# The .deb/.rpm install-and-remove test (packaging/packaging.mk) is part of
# it: both use the system bus, libvirt's hook dir and /etc/virtswitch, so
# they run one after the other, never at once.
.PHONY: e2e e2e-libvirt e2e-metrics e2e-migrate e2e-getting-started
e2e: e2e-libvirt
	$(MAKE) e2e-metrics
	$(MAKE) e2e-migrate
	$(MAKE) e2e-getting-started
	$(MAKE) package-test

# Debian's Prometheus scrapes virtswitchd on loopback (issue 14).
e2e-metrics:
	bash e2e/metrics.sh

e2e-libvirt:
	bash e2e/run.sh

# Live migration between two libvirt hosts in namespaces (issue 13;
# docs/MIGRATION.md).
e2e-migrate:
	bash e2e/migrate.sh

# README "Getting started on a host", step by step: the .deb installed for
# real, the service, a network file, virsh define + start (issue 15).
e2e-getting-started:
	bash e2e/getting-started.sh
