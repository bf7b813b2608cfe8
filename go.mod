module github.com/virtswitch/virtswitch

go 1.26.0

require (
	github.com/coreos/go-systemd/v22 v22.7.0
	github.com/digitalocean/go-libvirt v0.0.0-20261013170128-efbbdf578ac8
	github.com/godbus/dbus/v5 v5.2.4
	github.com/vishvananda/netlink v1.3.1
	github.com/vishvananda/netns v0.0.5
	golang.org/x/sys v0.49.0
	libvirt.org/go/libvirtxml v1.10009.0
)

require (
	github.com/prometheus/client_golang v1.25.0 // indirect
	golang.org/x/crypto v0.48.0 // indirect
)
