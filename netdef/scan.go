package netdef

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"
)

// node is one element of the raw document. libvirtxml (encoding/xml) drops
// what it does not model, cannot tell an empty attribute from a missing one,
// keeps only the last of repeated singleton elements, loses the type of a
// <virtualport> it does not know and fails outright on hex virtualport
// numbers; the raw tree lets Parse see all of that.
type node struct {
	name       xml.Name
	attrs      []xml.Attr
	kids       []*node
	text       string // character data directly inside the element
	textBuf    []byte // text while it is being read (appending, not concatenating)
	start, end int64  // byte span of the whole element in the input
	inner      string // <metadata> only: its raw inner XML
	line       int
}

func (n *node) attr(name string) (string, bool) {
	for _, a := range n.attrs {
		if a.Name.Space == "" && a.Name.Local == name {
			return a.Value, true
		}
	}
	return "", false
}

// kid returns the first child element called name (no namespace), or nil.
func (n *node) kid(name string) *node {
	for _, k := range n.kids {
		if k.name.Space == "" && k.name.Local == name {
			return k
		}
	}
	return nil
}

// scan reads data into a tree. It enforces what encoding/xml lets through:
// one root, no DOCTYPE (no entity games), no stray text outside the root.
// The children of a top-level <metadata> are not turned into nodes: its inner
// XML is kept raw, as SPEC §1 asks.
func scan(data []byte) (*node, error) {
	d := xml.NewDecoder(bytes.NewReader(data))
	d.Strict = true
	var root *node
	var stack []*node
	for {
		off := d.InputOffset()
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			line, _ := d.InputPos()
			n := &node{name: t.Name, attrs: t.Copy().Attr, start: off, line: line}
			if len(stack) == 0 {
				if root != nil {
					return nil, errors.New("more than one root element")
				}
				root = n
			} else {
				p := stack[len(stack)-1]
				p.kids = append(p.kids, n)
			}
			if len(stack) == 1 && t.Name.Space == "" && t.Name.Local == "metadata" {
				if err := skipMetadata(d, data, n); err != nil {
					return nil, err
				}
				continue
			}
			stack = append(stack, n)
		case xml.EndElement:
			n := stack[len(stack)-1]
			n.end = d.InputOffset()
			n.text, n.textBuf = string(n.textBuf), nil
			stack = stack[:len(stack)-1]
		case xml.CharData:
			if len(stack) == 0 {
				if len(bytes.TrimSpace(t)) != 0 {
					return nil, errors.New("text outside the root element")
				}
				continue
			}
			top := stack[len(stack)-1]
			top.textBuf = append(top.textBuf, t...)
		case xml.Directive:
			return nil, errors.New("<!DOCTYPE> and other directives are not allowed")
		}
	}
	if root == nil {
		return nil, errors.New("no root element")
	}
	return root, nil
}

// skipMetadata consumes the tokens of <metadata> (whose start tag was just
// read) and records its raw inner XML.
func skipMetadata(d *xml.Decoder, data []byte, n *node) error {
	innerStart := d.InputOffset()
	depth := 1
	for {
		off := d.InputOffset()
		tok, err := d.Token()
		if err == io.EOF {
			return io.ErrUnexpectedEOF
		}
		if err != nil {
			return err
		}
		switch tok.(type) {
		case xml.StartElement:
			depth++
		case xml.EndElement:
			depth--
			if depth == 0 {
				n.inner = string(data[innerStart:off])
				n.end = d.InputOffset()
				return nil
			}
		case xml.Directive:
			return errors.New("directives are not allowed in <metadata>")
		}
	}
}

// checkMetadata makes sure the raw inner XML of <metadata> stands alone when
// written back on its own: only elements (and comments) at its top level, and
// every namespace prefix it uses declared inside it. libvirt re-homes
// namespaces when it copies metadata; we keep the text as given instead, so
// a prefix declared on <network> would dangle in our output.
func checkMetadata(inner string) error {
	d := xml.NewDecoder(strings.NewReader("<metadata>" + inner + "</metadata>"))
	d.Strict = true
	var scopes []map[string]bool
	declared := func(prefix string) bool {
		if prefix == "" || prefix == "xml" || prefix == "xmlns" {
			return true
		}
		for i := len(scopes) - 1; i >= 0; i-- {
			if scopes[i][prefix] {
				return true
			}
		}
		return false
	}
	for {
		tok, err := d.RawToken()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			var scope map[string]bool // nil unless the element declares prefixes
			for _, a := range t.Attr {
				if a.Name.Space == "xmlns" {
					if scope == nil {
						scope = map[string]bool{}
					}
					scope[a.Name.Local] = true
				}
			}
			scopes = append(scopes, scope)
			if len(scopes) == 1 {
				continue // the wrapper
			}
			for i, a := range t.Attr {
				for _, b := range t.Attr[:i] {
					if a.Name == b.Name {
						return fmt.Errorf("attribute '%s' given twice on an element in <metadata>", shorten(rawName(a.Name)))
					}
				}
			}
			if !declared(t.Name.Space) {
				return fmt.Errorf("<%s:%s> in <metadata> uses namespace prefix '%s' declared outside <metadata>", shorten(t.Name.Space), shorten(t.Name.Local), shorten(t.Name.Space))
			}
			for _, a := range t.Attr {
				if !declared(a.Name.Space) {
					return fmt.Errorf("attribute %s:%s in <metadata> uses namespace prefix '%s' declared outside <metadata>", shorten(a.Name.Space), shorten(a.Name.Local), shorten(a.Name.Space))
				}
			}
		case xml.EndElement:
			scopes = scopes[:len(scopes)-1]
		case xml.ProcInst:
			// encoding/xml lets this through; libxml2 (and so libvirt and
			// virt-xml-validate) rejects it.
			if strings.EqualFold(t.Target, "xml") {
				return errors.New("an XML declaration is not allowed inside <metadata>")
			}
		case xml.CharData:
			if len(scopes) == 1 && len(bytes.TrimSpace(t)) != 0 {
				return errors.New("<metadata> may hold only elements, not text")
			}
		}
	}
}

func rawName(n xml.Name) string {
	if n.Space != "" {
		return n.Space + ":" + n.Local
	}
	return n.Local
}

// elemName writes an element name for messages.
func elemName(n xml.Name) string {
	if n.Space != "" {
		return fmt.Sprintf("<%s> (namespace '%s')", shorten(n.Local), shorten(n.Space))
	}
	return "<" + shorten(n.Local) + ">"
}
