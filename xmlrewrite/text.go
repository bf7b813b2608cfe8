package xmlrewrite

import (
	"crypto/rand"
	"fmt"
	"sort"
	"strings"

	"github.com/virtswitch/virtswitch/vport"
)

// edit replaces src[start:end] with text. Zero-length edits insert.
type edit struct {
	start, end int
	text       string
	seq        int // keeps insertions at one offset in the order they were made
}

type edits []edit

func (e *edits) replace(start, end int, text string) {
	*e = append(*e, edit{start: start, end: end, text: text, seq: len(*e)})
}

func (e *edits) insert(at int, text string) { e.replace(at, at, text) }

// apply splices the edits into src. Edits never overlap; an insertion at the
// offset where a removal starts goes first.
func (e edits) apply(src []byte) []byte {
	sorted := append(edits(nil), e...)
	sort.SliceStable(sorted, func(i, j int) bool {
		a, b := sorted[i], sorted[j]
		if a.start != b.start {
			return a.start < b.start
		}
		if (a.end == a.start) != (b.end == b.start) {
			return a.end == a.start
		}
		return a.seq < b.seq
	})
	var out []byte
	pos := 0
	for _, ed := range sorted {
		if ed.start < pos {
			panic(fmt.Sprintf("xmlrewrite: overlapping edits at %d", ed.start))
		}
		out = append(out, src[pos:ed.start]...)
		out = append(out, ed.text...)
		pos = ed.end
	}
	return append(out, src[pos:]...)
}

// escAttr escapes s for a single-quoted attribute value. Whitespace other
// than the plain space is written as character references so that attribute
// value normalization by any XML parser cannot change it.
func escAttr(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch r {
		case '&':
			b.WriteString("&amp;")
		case '<':
			b.WriteString("&lt;")
		case '>':
			b.WriteString("&gt;")
		case '\'':
			b.WriteString("&apos;")
		case '"':
			b.WriteString("&quot;")
		case '\n':
			b.WriteString("&#10;")
		case '\r':
			b.WriteString("&#13;")
		case '\t':
			b.WriteString("&#9;")
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// escText escapes s as character data, on one line: parsers turn a raw
// "\r\n" into "\n" in text, a character reference survives.
func escText(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch r {
		case '&':
			b.WriteString("&amp;")
		case '<':
			b.WriteString("&lt;")
		case '>':
			b.WriteString("&gt;")
		case '\n':
			b.WriteString("&#10;")
		case '\r':
			b.WriteString("&#13;")
		case '\t':
			b.WriteString("&#9;")
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// nested returns the whitespace for a child of an element that is preceded by
// ws: the same line indentation plus two spaces. Without a newline in ws the
// document is written on one line, and so are we.
func nested(ws string) string {
	i := strings.LastIndexByte(ws, '\n')
	if i < 0 {
		return ""
	}
	return "\n" + ws[i+1:] + "  "
}

// closing returns the whitespace before the end tag of an element preceded
// by ws: its own line indentation.
func closing(ws string) string {
	i := strings.LastIndexByte(ws, '\n')
	if i < 0 {
		return ""
	}
	return "\n" + ws[i+1:]
}

// formatVPort writes a <virtualport> in libvirt's style with element names
// prefixed by prefix ("" or "virtswitch:"). ws is the whitespace the element
// itself is preceded by; nested lines are indented from it.
func formatVPort(v *vport.VirtualPort, prefix, ws string) string {
	var b strings.Builder
	b.WriteString("<" + prefix + "virtualport")
	if v.Type != "" {
		b.WriteString(" type='" + escAttr(v.Type) + "'")
	}
	if v.Params == nil {
		b.WriteString("/>")
		return b.String()
	}
	b.WriteString(">" + nested(ws) + "<" + prefix + "parameters")
	for _, name := range vport.ParamNames {
		if val := v.Get(name); val != "" {
			b.WriteString(" " + name + "='" + escAttr(val) + "'")
		}
	}
	b.WriteString("/>" + closing(ws) + "</" + prefix + "virtualport>")
	return b.String()
}

// sameVPort compares two virtualports by type and parameters (an empty
// <parameters/> equals none).
func sameVPort(a, b *vport.VirtualPort) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	if a.Type != b.Type {
		return false
	}
	for _, name := range vport.ParamNames {
		if a.Get(name) != b.Get(name) {
			return false
		}
	}
	return true
}

// readVPort reads a <virtualport> element (in any namespace; its
// <parameters> child must be in the same one). Unknown attributes are
// ignored, as libvirt does.
func readVPort(n *node) *vport.VirtualPort {
	v := &vport.VirtualPort{Type: n.attrOr("type")}
	if p := n.child(n.name.Space, "parameters"); p != nil {
		v.Params = &vport.Params{}
		for _, name := range vport.ParamNames {
			if val, ok := p.attr(name); ok {
				v.Set(name, val)
			}
		}
	}
	return v
}

// parseMAC reads a MAC address as libvirt's virMacAddrParse does: six groups
// of one or two hex digits separated by colons.
func parseMAC(s string) ([6]byte, bool) {
	var mac [6]byte
	parts := strings.Split(s, ":")
	if len(parts) != 6 {
		return mac, false
	}
	for i, p := range parts {
		if len(p) < 1 || len(p) > 2 {
			return mac, false
		}
		var v byte
		for _, c := range []byte(p) {
			switch {
			case c >= '0' && c <= '9':
				v = v<<4 | (c - '0')
			case c >= 'a' && c <= 'f':
				v = v<<4 | (c - 'a' + 10)
			case c >= 'A' && c <= 'F':
				v = v<<4 | (c - 'A' + 10)
			default:
				return mac, false
			}
		}
		mac[i] = v
	}
	return mac, true
}

// targetFor returns the Form B device name for a MAC: "vsw" followed by the
// 12 lower-case hex digits of the address.
func targetFor(mac [6]byte) string {
	return fmt.Sprintf("vsw%02x%02x%02x%02x%02x%02x", mac[0], mac[1], mac[2], mac[3], mac[4], mac[5])
}

// IsTarget reports whether name has the shape of a virtswitch target: "vsw"
// and 12 lower-case hex digits (recovery uses it to find orphaned links).
func IsTarget(name string) bool {
	if len(name) != 15 || !strings.HasPrefix(name, "vsw") {
		return false
	}
	for _, c := range []byte(name[3:]) {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

func formatMAC(mac [6]byte) string {
	return fmt.Sprintf("%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3], mac[4], mac[5])
}

// randomMAC returns a MAC under QEMU's 52:54:00 prefix, as libvirt
// generates for an interface without one.
func randomMAC() [6]byte {
	mac := [6]byte{0x52, 0x54, 0x00}
	if _, err := rand.Read(mac[3:]); err != nil {
		panic("xmlrewrite: no randomness: " + err.Error())
	}
	return mac
}
