package plumb

// MAC returns a link's current MAC address (lower case, colon-separated).
// The daemon reads a passthrough pool device's own MAC with it and records
// it in the domain's state file before CreateMacvtap changes it, so the MAC
// can be given back even if the daemon dies in between.
func (p *Plumber) MAC(dev string) (string, error) {
	if err := checkName("device", dev); err != nil {
		return "", err
	}
	l, found, err := p.linkByName(dev)
	if err != nil {
		return "", plumbErr("cannot read the MAC of device '%s': %v", dev, errText(err))
	}
	if !found {
		return "", plumbErr("device '%s' does not exist%s", dev, p.where())
	}
	return l.Attrs().HardwareAddr.String(), nil
}
