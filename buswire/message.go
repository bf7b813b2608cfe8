package buswire

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
)

// Message types and header field codes of the D-Bus wire format.
const (
	typeCall   = 1
	typeReturn = 2
	typeError  = 3

	fieldPath        = 1
	fieldInterface   = 2
	fieldMember      = 3
	fieldErrorName   = 4
	fieldReplySerial = 5
	fieldDestination = 6
	fieldSignature   = 8

	// maxMessage bounds what the client accepts (the specification allows
	// 128 MiB): 32 MiB, the system bus's own default message limit, and far
	// more than any reply of virtswitchd (its inputs are at most 4 MiB). A
	// bus announcing more is not trusted with an allocation.
	maxMessage = 32 << 20
)

// appendMethodCall marshals a method call in little-endian byte order.
// Alignment is counted from the message's first byte, which is where out
// ends when this is called (the caller never splits a message).
func appendMethodCall(out []byte, serial uint32, c Call) []byte {
	start := len(out)
	var body []byte
	for _, a := range c.Args {
		body = appendString(body, 0, a)
	}
	out = append(out, 'l', typeCall, 0, 1)
	out = binary.LittleEndian.AppendUint32(out, uint32(len(body)))
	out = binary.LittleEndian.AppendUint32(out, serial)
	lenAt := len(out)
	out = append(out, 0, 0, 0, 0) // header fields' length, filled in below
	fields := len(out)
	out = appendField(out, start, fieldPath, 'o', c.Path)
	if c.Interface != "" {
		out = appendField(out, start, fieldInterface, 's', c.Interface)
	}
	out = appendField(out, start, fieldMember, 's', c.Member)
	out = appendField(out, start, fieldDestination, 's', c.Destination)
	if len(c.Args) > 0 {
		sig := make([]byte, len(c.Args))
		for i := range sig {
			sig[i] = 's'
		}
		out = appendField(out, start, fieldSignature, 'g', string(sig))
	}
	binary.LittleEndian.PutUint32(out[lenAt:], uint32(len(out)-fields))
	out = pad(out, start, 8)
	return append(out, body...)
}

// appendField writes one (code, variant) header field.
func appendField(out []byte, start int, code byte, typ byte, v string) []byte {
	out = pad(out, start, 8)
	out = append(out, code, 1, typ, 0)
	if typ == 'g' {
		out = append(out, byte(len(v)))
		out = append(out, v...)
		return append(out, 0)
	}
	return appendString(out, start, v)
}

func appendString(out []byte, start int, v string) []byte {
	out = pad(out, start, 4)
	out = binary.LittleEndian.AppendUint32(out, uint32(len(v)))
	out = append(out, v...)
	return append(out, 0)
}

func pad(out []byte, start, n int) []byte {
	for (len(out)-start)%n != 0 {
		out = append(out, 0)
	}
	return out
}

// message is what the client needs of a received message.
type message struct {
	typ         byte
	replySerial uint32
	errorName   string
	strings     []string // the body's leading string arguments
}

func (m *message) errorText() string {
	if len(m.strings) > 0 {
		return m.errorName + ": " + m.strings[0]
	}
	return m.errorName
}

// readMessage reads one whole message and decodes its header fields and
// the leading strings of its body.
func readMessage(r *bufio.Reader) (*message, error) {
	fixed := make([]byte, 16)
	if _, err := io.ReadFull(r, fixed); err != nil {
		return nil, fmt.Errorf("reading from the bus: %w", err)
	}
	var order binary.ByteOrder
	switch fixed[0] {
	case 'l':
		order = binary.LittleEndian
	case 'B':
		order = binary.BigEndian
	default:
		return nil, fmt.Errorf("the bus sent a message with byte order %q", fixed[0])
	}
	bodyLen := order.Uint32(fixed[4:])
	fieldsLen := order.Uint32(fixed[12:])
	headerLen := align(16+uint64(fieldsLen), 8)
	if headerLen+uint64(bodyLen) > maxMessage {
		return nil, fmt.Errorf("the bus sent a message of %d bytes, more than this client accepts (32 MiB)", headerLen+uint64(bodyLen))
	}
	buf := make([]byte, headerLen+uint64(bodyLen))
	copy(buf, fixed)
	if _, err := io.ReadFull(r, buf[16:]); err != nil {
		return nil, fmt.Errorf("reading from the bus: %w", err)
	}
	m := &message{typ: fixed[1]}
	d := &decoder{buf: buf[:16+fieldsLen], pos: 16, order: order}
	var sig string
	for d.pos < len(d.buf) {
		d.align(8)
		code := d.byte()
		vsig := d.signature()
		if d.err != nil {
			break
		}
		switch {
		case code == fieldReplySerial && vsig == "u":
			m.replySerial = d.uint32()
		case code == fieldErrorName && vsig == "s":
			m.errorName = d.string()
		case code == fieldSignature && vsig == "g":
			sig = d.signature()
		default:
			d.skip(vsig)
		}
	}
	if d.err != nil {
		return nil, fmt.Errorf("the bus sent a malformed message header: %v", d.err)
	}
	// Alignment in the body counts from the message start; the body starts
	// 8-aligned, so counting from the body start is the same.
	b := &decoder{buf: buf[headerLen:], order: order}
	for i := 0; i < len(sig) && sig[i] == 's'; i++ {
		s := b.string()
		if b.err != nil {
			return nil, fmt.Errorf("the bus sent a malformed message body: %v", b.err)
		}
		m.strings = append(m.strings, s)
	}
	return m, nil
}

func align(n, a uint64) uint64 { return (n + a - 1) / a * a }

// decoder reads D-Bus values from buf; the first error sticks and every
// later read returns zero values.
type decoder struct {
	buf   []byte
	pos   int
	order binary.ByteOrder
	err   error
}

func (d *decoder) fail(format string, a ...any) {
	if d.err == nil {
		d.err = fmt.Errorf(format, a...)
	}
	d.pos = len(d.buf)
}

func (d *decoder) align(n int) {
	p := (d.pos + n - 1) / n * n
	if p > len(d.buf) {
		d.fail("padding runs past the end")
		return
	}
	d.pos = p
}

func (d *decoder) take(n int) []byte {
	if d.err != nil || n < 0 || n > len(d.buf)-d.pos {
		d.fail("a value runs past the end")
		return nil
	}
	b := d.buf[d.pos : d.pos+n]
	d.pos += n
	return b
}

func (d *decoder) byte() byte {
	b := d.take(1)
	if b == nil {
		return 0
	}
	return b[0]
}

func (d *decoder) uint32() uint32 {
	d.align(4)
	b := d.take(4)
	if b == nil {
		return 0
	}
	return d.order.Uint32(b)
}

func (d *decoder) string() string { return d.nulTerminated(int(d.uint32()), "string") }

func (d *decoder) signature() string { return d.nulTerminated(int(d.byte()), "signature") }

// nulTerminated reads n bytes and the NUL after them (strings, object
// paths and signatures differ only in how n is written).
func (d *decoder) nulTerminated(n int, what string) string {
	b := d.take(n + 1)
	if b == nil {
		return ""
	}
	if b[n] != 0 {
		d.fail("a %s is not NUL-terminated", what)
	}
	return string(b[:n])
}

// skip steps over a value of each complete type in sig (unknown header
// fields must be ignored, whatever their type).
func (d *decoder) skip(sig string) {
	for len(sig) > 0 && d.err == nil {
		n := completeType(sig)
		if n == 0 {
			d.fail("bad signature %q", sig)
			return
		}
		d.skipOne(sig[:n], 0)
		sig = sig[n:]
	}
}

// maxDepth bounds nesting, as the specification does (32 arrays + 32
// structs); it keeps a hostile signature from exhausting the stack.
const maxDepth = 64

func (d *decoder) skipOne(t string, depth int) {
	if depth > maxDepth {
		d.fail("values nested too deeply")
		return
	}
	if t == "" {
		d.fail("an empty type")
		return
	}
	switch t[0] {
	case 'y':
		d.take(1)
	case 'n', 'q':
		d.align(2)
		d.take(2)
	case 'b', 'i', 'u', 'h':
		d.align(4)
		d.take(4)
	case 'x', 't', 'd':
		d.align(8)
		d.take(8)
	case 's', 'o':
		d.string()
	case 'g':
		d.signature()
	case 'v':
		inner := d.signature()
		// An empty variant signature is not one complete type either
		// (FuzzReadMessage found the hook crashing on it).
		if d.err == nil && (inner == "" || completeType(inner) != len(inner)) {
			d.fail("a variant holds %q, not one complete type", inner)
			return
		}
		if d.err == nil {
			d.skipOne(inner, depth+1)
		}
	case 'a':
		n := d.uint32()
		d.align(alignOf(t[1]))
		d.take(int(n))
	case '(', '{':
		d.align(8)
		inner := t[1 : len(t)-1]
		for len(inner) > 0 && d.err == nil {
			k := completeType(inner)
			if k == 0 {
				d.fail("bad signature %q", t)
				return
			}
			d.skipOne(inner[:k], depth+1)
			inner = inner[k:]
		}
	default:
		d.fail("unknown type %q", t[0])
	}
}

// completeType is the length of the first complete type in sig, 0 if there
// is none.
func completeType(sig string) int {
	return completeTypeAt(sig, 0)
}

func completeTypeAt(sig string, depth int) int {
	if len(sig) == 0 || depth > maxDepth {
		return 0
	}
	switch sig[0] {
	case 'y', 'b', 'n', 'q', 'i', 'u', 'x', 't', 'd', 'h', 's', 'o', 'g', 'v':
		return 1
	case 'a':
		n := completeTypeAt(sig[1:], depth+1)
		if n == 0 {
			return 0
		}
		return 1 + n
	case '(', '{':
		closer := byte(')')
		if sig[0] == '{' {
			closer = '}'
		}
		i := 1
		for i < len(sig) && sig[i] != closer {
			n := completeTypeAt(sig[i:], depth+1)
			if n == 0 {
				return 0
			}
			i += n
		}
		if i >= len(sig) || i == 1 {
			return 0
		}
		return i + 1
	}
	return 0
}

func alignOf(c byte) int {
	switch c {
	case 'n', 'q':
		return 2
	case 'b', 'i', 'u', 'h', 's', 'o', 'a':
		return 4
	case 'x', 't', 'd', '(', '{':
		return 8
	}
	return 1 // y, g, v
}
