// Package vport holds the <virtualport> element shared by networks,
// portgroups and guest interfaces: its XML shape, the parameters each type
// allows, and their ranges (as libvirt's virNetDevVPortProfile).
//
// Merging layers is a resolution rule and lives in package resolve.
package vport

import (
	"crypto/rand"
	"encoding/xml"
	"fmt"
	"strconv"
	"strings"
)

// Types.
const (
	Qbg         = "802.1Qbg"
	Qbh         = "802.1Qbh"
	OpenVSwitch = "openvswitch"
)

// VirtualPort is one <virtualport> element. An empty Type means the element
// omitted it (allowed in portgroups and guest interfaces). Parameter values are
// kept as strings; Normalize checks them and rewrites them canonically.
type VirtualPort struct {
	XMLName xml.Name `xml:"virtualport"`
	Type    string   `xml:"type,attr,omitempty"`
	Params  *Params  `xml:"parameters"`
}

// Params is the <parameters> child. "" means "not set".
type Params struct {
	ManagerID     string `xml:"managerid,attr,omitempty"`
	TypeID        string `xml:"typeid,attr,omitempty"`
	TypeIDVersion string `xml:"typeidversion,attr,omitempty"`
	InstanceID    string `xml:"instanceid,attr,omitempty"`
	ProfileID     string `xml:"profileid,attr,omitempty"`
	InterfaceID   string `xml:"interfaceid,attr,omitempty"`
}

// Param names, in the order libvirt writes them.
var ParamNames = []string{"managerid", "typeid", "typeidversion", "instanceid", "profileid", "interfaceid"}

// Get returns the value of the named parameter ("" when unset).
func (v *VirtualPort) Get(name string) string {
	if v == nil || v.Params == nil {
		return ""
	}
	return *v.Params.field(name)
}

// Set sets the named parameter.
func (v *VirtualPort) Set(name, value string) {
	if v.Params == nil {
		v.Params = &Params{}
	}
	*v.Params.field(name) = value
}

func (p *Params) field(name string) *string {
	switch name {
	case "managerid":
		return &p.ManagerID
	case "typeid":
		return &p.TypeID
	case "typeidversion":
		return &p.TypeIDVersion
	case "instanceid":
		return &p.InstanceID
	case "profileid":
		return &p.ProfileID
	case "interfaceid":
		return &p.InterfaceID
	}
	panic("vport: unknown parameter " + name)
}

// Clone returns a deep copy (nil for nil).
func (v *VirtualPort) Clone() *VirtualPort {
	if v == nil {
		return nil
	}
	c := &VirtualPort{Type: v.Type}
	if v.Params != nil {
		p := *v.Params
		c.Params = &p
	}
	return c
}

// allowed lists the parameters each type accepts.
var allowed = map[string][]string{
	Qbg:         {"managerid", "typeid", "typeidversion", "instanceid"},
	Qbh:         {"profileid"},
	OpenVSwitch: {"interfaceid", "profileid"},
}

// Required lists the parameters a merged virtualport of each type must have.
var Required = map[string][]string{
	Qbg:         {"managerid", "typeid", "typeidversion", "instanceid"},
	Qbh:         {"profileid"},
	OpenVSwitch: {"interfaceid"},
}

// KnownType reports whether t is a virtualport type virtswitch understands.
func KnownType(t string) bool { _, ok := allowed[t]; return ok }

// Normalize checks the type and every parameter that is set, and rewrites
// numbers in decimal and UUIDs in lower-case canonical form. A type-less
// element is checked for ranges only. The error text describes the element;
// callers prefix it with the network or interface it belongs to.
func (v *VirtualPort) Normalize() error {
	if v == nil {
		return nil
	}
	if v.Type != "" && !KnownType(v.Type) {
		return fmt.Errorf("unknown <virtualport> type '%s'", v.Type)
	}
	if v.Params == nil {
		return nil
	}
	for _, name := range ParamNames {
		val := v.Get(name)
		if val == "" {
			continue
		}
		if v.Type != "" && !contains(allowed[v.Type], name) {
			return fmt.Errorf("parameter %s is not allowed in <virtualport type='%s'>", name, v.Type)
		}
		norm, err := normalizeParam(name, val)
		if err != nil {
			return err
		}
		v.Set(name, norm)
	}
	if v.Params.empty() {
		v.Params = nil
	}
	return nil
}

// Missing returns the first parameter that a complete virtualport of v's type
// lacks ("" when complete or type-less).
func (v *VirtualPort) Missing() string {
	for _, name := range Required[v.Type] {
		if v.Get(name) == "" {
			return name
		}
	}
	return ""
}

func (p *Params) empty() bool { return *p == Params{} }

func normalizeParam(name, val string) (string, error) {
	switch name {
	case "managerid", "typeidversion":
		return normalizeUint(name, val, 0xFF)
	case "typeid":
		return normalizeUint(name, val, 0xFFFFFF)
	case "instanceid", "interfaceid":
		u, err := ParseUUID(val)
		if err != nil {
			return "", fmt.Errorf("cannot parse %s parameter '%s' as a UUID", name, val)
		}
		return u, nil
	case "profileid":
		if len(val) > 39 {
			return "", fmt.Errorf("profileid parameter too long (%d characters, at most 39)", len(val))
		}
		return val, nil
	}
	return val, nil
}

func normalizeUint(name, val string, max uint64) (string, error) {
	// libvirt parses with strtoul base 0: decimal, 0x hex and leading-0
	// octal. Go's base 0 also takes 0b, 0o and '_' separators, which libvirt
	// and its schema refuse, so only those three shapes are let through.
	val = strings.TrimSpace(val)
	base, digits := 10, val
	switch {
	case len(val) > 2 && (val[:2] == "0x" || val[:2] == "0X"):
		base, digits = 16, val[2:]
	case len(val) > 1 && val[0] == '0':
		base, digits = 8, val[1:]
	}
	n, err := strconv.ParseUint(digits, base, 64)
	if err != nil || strings.ContainsAny(digits, "_+-") {
		return "", fmt.Errorf("cannot parse %s parameter '%s' as a number", name, val)
	}
	if n > max {
		return "", fmt.Errorf("%s parameter %s out of range (0-%d)", name, val, max)
	}
	return strconv.FormatUint(n, 10), nil
}

// ParseUUID accepts a UUID with or without dashes (as libvirt's virUUIDParse:
// 32 hex digits, dashes between them ignored) and returns the canonical
// lower-case 8-4-4-4-12 form.
func ParseUUID(s string) (string, error) {
	s = strings.TrimSpace(s)
	var hexd []byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '-':
			continue
		case c >= '0' && c <= '9', c >= 'a' && c <= 'f':
			hexd = append(hexd, c)
		case c >= 'A' && c <= 'F':
			hexd = append(hexd, c+('a'-'A'))
		default:
			return "", fmt.Errorf("invalid UUID '%s'", s)
		}
	}
	if len(hexd) != 32 {
		return "", fmt.Errorf("invalid UUID '%s'", s)
	}
	h := string(hexd)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32], nil
}

// NewUUID returns a random (version 4) UUID.
func NewUUID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("vport: no randomness: " + err.Error())
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// Format writes v as XML in libvirt's style, each line prefixed by indent
// (nested lines get two more spaces). It writes nothing for nil.
func (v *VirtualPort) Format(indent string) string {
	if v == nil {
		return ""
	}
	var b strings.Builder
	b.WriteString(indent + "<virtualport")
	if v.Type != "" {
		b.WriteString(" type='" + v.Type + "'")
	}
	if v.Params == nil {
		b.WriteString("/>\n")
		return b.String()
	}
	b.WriteString(">\n" + indent + "  <parameters")
	for _, name := range ParamNames {
		if val := v.Get(name); val != "" {
			b.WriteString(" " + name + "='" + escapeAttr(val) + "'")
		}
	}
	b.WriteString("/>\n" + indent + "</virtualport>\n")
	return b.String()
}

func escapeAttr(s string) string {
	r := strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", "'", "&apos;", "\"", "&quot;")
	return r.Replace(s)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
