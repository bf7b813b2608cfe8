# End-to-end suite (included by the top-level Makefile). docs/E2E.md says
# what it needs and does: root on Debian 12; it installs libvirt and QEMU.
.PHONY: e2e
e2e:
	bash e2e/run.sh
