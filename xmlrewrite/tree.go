package xmlrewrite

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
)

// The rewriter never re-marshals a document: it parses it once into a light
// tree that remembers the byte range of every token, decides what to change,
// and splices new bytes into the original. Everything it does not touch is
// copied through unchanged, which is what makes Encode and Decode exact
// inverses on real files.

type itemKind int

const (
	itemText  itemKind = iota // character data (including CDATA sections)
	itemElem                  // a child element
	itemOther                 // comment, processing instruction, directive
)

// item is one token directly inside an element (or at the document's top
// level), with its byte range [start, end).
type item struct {
	kind       itemKind
	start, end int
	elem       *node  // itemElem
	text       string // itemText: the decoded character data
}

// node is one element.
type node struct {
	name        xml.Name // namespace resolved by encoding/xml
	attrs       []xml.Attr
	start, end  int // the whole element
	tagEnd      int // end of the start tag
	closeStart  int // start of the end tag (== end when self-closing)
	selfClosing bool
	parent      *node
	items       []item
}

// document is a parsed document: its bytes and its top-level items.
type document struct {
	src   []byte
	items []item
	root  *node
}

// parse reads doc with encoding/xml in strict mode. It requires exactly one
// root element and nothing but whitespace, comments and processing
// instructions around it.
func parse(src []byte) (*document, error) {
	d := &document{src: src}
	dec := xml.NewDecoder(bytes.NewReader(src))
	dec.Strict = true
	var stack []*node
	prev := 0
	add := func(it item) {
		if len(stack) == 0 {
			d.items = append(d.items, it)
		} else {
			top := stack[len(stack)-1]
			top.items = append(top.items, it)
		}
	}
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		off := int(dec.InputOffset())
		switch t := tok.(type) {
		case xml.StartElement:
			n := &node{name: t.Name, attrs: append([]xml.Attr(nil), t.Attr...), start: prev, tagEnd: off}
			if len(stack) > 0 {
				n.parent = stack[len(stack)-1]
			} else if d.root != nil {
				return nil, errors.New("more than one root element")
			} else {
				d.root = n
			}
			add(item{kind: itemElem, start: prev, end: off, elem: n})
			stack = append(stack, n)
		case xml.EndElement:
			n := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			n.closeStart, n.end = prev, off
			n.selfClosing = prev == off
			// The item was added with the start tag's range; widen it.
			var list []item
			if len(stack) == 0 {
				list = d.items
			} else {
				list = stack[len(stack)-1].items
			}
			list[len(list)-1].end = off
		case xml.CharData:
			if len(stack) == 0 && !isSpace(src[prev:off]) {
				return nil, errors.New("text outside the root element")
			}
			add(item{kind: itemText, start: prev, end: off, text: string(t)})
		default:
			add(item{kind: itemOther, start: prev, end: off})
		}
		prev = off
	}
	if len(stack) != 0 {
		return nil, errors.New("unexpected end of document")
	}
	if d.root == nil {
		return nil, errors.New("no root element")
	}
	return d, nil
}

func isSpace(b []byte) bool {
	for _, c := range b {
		if c != ' ' && c != '\t' && c != '\n' && c != '\r' {
			return false
		}
	}
	return true
}

// attr returns the value of the un-namespaced attribute name.
func (n *node) attr(name string) (string, bool) {
	for _, a := range n.attrs {
		if a.Name.Space == "" && a.Name.Local == name {
			return a.Value, true
		}
	}
	return "", false
}

func (n *node) attrOr(name string) string { v, _ := n.attr(name); return v }

// is reports whether n is the element {space}local.
func (n *node) is(space, local string) bool { return n.name.Space == space && n.name.Local == local }

// children returns the child elements named {space}local.
func (n *node) children(space, local string) []*node {
	var out []*node
	for _, it := range n.items {
		if it.kind == itemElem && it.elem.is(space, local) {
			out = append(out, it.elem)
		}
	}
	return out
}

// child returns the first child element named {space}local, or nil.
func (n *node) child(space, local string) *node {
	for _, it := range n.items {
		if it.kind == itemElem && it.elem.is(space, local) {
			return it.elem
		}
	}
	return nil
}

// text returns the element's direct character data.
func (n *node) text() string {
	var s string
	for _, it := range n.items {
		if it.kind == itemText {
			s += it.text
		}
	}
	return s
}

// index returns the position of child element c in n.items (-1 if absent).
func (n *node) index(c *node) int {
	for i, it := range n.items {
		if it.kind == itemElem && it.elem == c {
			return i
		}
	}
	return -1
}

// wsBefore returns the range of the whitespace-only text item right before
// item i of n ([s, s) when there is none), the whitespace that "belongs" to
// the element when it is cut out or re-inserted.
func (d *document) wsBefore(items []item, i int) (int, int) {
	if i > 0 && items[i-1].kind == itemText && isSpace(d.src[items[i-1].start:items[i-1].end]) {
		return items[i-1].start, items[i-1].end
	}
	return items[i].start, items[i].start
}

// rawAttr is an attribute as written in a start tag.
type rawAttr struct {
	name     string // qualified name as written
	valStart int    // value bytes, without the quotes
	valEnd   int
	quote    byte
}

// rawStartTag scans n's start tag (which encoding/xml has already accepted,
// so it is well formed) and returns the qualified name as written and the
// attributes with the byte ranges of their values.
func (d *document) rawStartTag(n *node) (string, []rawAttr) {
	s := d.src
	i := n.start + 1
	j := i
	for j < n.tagEnd && !isNameEnd(s[j]) {
		j++
	}
	qname := string(s[i:j])
	var attrs []rawAttr
	i = j
	for i < n.tagEnd {
		for i < n.tagEnd && isSpaceByte(s[i]) {
			i++
		}
		if i >= n.tagEnd || s[i] == '/' || s[i] == '>' {
			break
		}
		j = i
		for j < n.tagEnd && !isSpaceByte(s[j]) && s[j] != '=' {
			j++
		}
		name := string(s[i:j])
		for j < n.tagEnd && s[j] != '\'' && s[j] != '"' {
			j++
		}
		if j >= n.tagEnd {
			break
		}
		q := s[j]
		k := bytes.IndexByte(s[j+1:n.tagEnd], q)
		if k < 0 {
			break
		}
		attrs = append(attrs, rawAttr{name: name, valStart: j + 1, valEnd: j + 1 + k, quote: q})
		i = j + 1 + k + 1
	}
	return qname, attrs
}

func isSpaceByte(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func isNameEnd(c byte) bool { return isSpaceByte(c) || c == '/' || c == '>' }
