package plumb

import (
	"encoding/binary"
	"sort"
	"strings"

	"golang.org/x/sys/unix"
)

// rtextFilterSkipStats is RTEXT_FILTER_SKIP_STATS: the kernel leaves the
// per-link statistics (the bulk of each dump message) out.
const rtextFilterSkipStats = 1 << 3

// Names returns the names of all links (of any kind) whose names start with
// prefix, sorted: what List returns, at a fraction of the cost. List decodes
// every link of the dump into a netlink.Link (a few KiB each); Names asks
// the kernel to leave the statistics out and reads only each message's
// IFLA_IFNAME. Recovery lists a namespace holding one link per guest
// interface, 10,000 and more on a big host, at every start and every
// reconcile. An interrupted dump is read again (bounded), as for List.
func (p *Plumber) Names(prefix string) ([]string, error) {
	names, err := retryDump(func() ([]string, error) {
		req := p.linkDumpRequest()
		var out []string
		err := req.ExecuteIter(unix.NETLINK_ROUTE, unix.RTM_NEWLINK, func(msg []byte) bool {
			if n, ok := ifName(msg); ok && strings.HasPrefix(n, prefix) {
				out = append(out, n)
			}
			return true
		})
		return out, err
	})
	if err != nil {
		return nil, plumbErr("cannot list links%s: %v", p.where(), errText(err))
	}
	if names == nil {
		names = []string{}
	}
	sort.Strings(names)
	return names, nil
}

// ifName finds IFLA_IFNAME in an RTM_NEWLINK payload (ifinfomsg, then
// route attributes, each 4-byte aligned).
func ifName(msg []byte) (string, bool) {
	if len(msg) < unix.SizeofIfInfomsg {
		return "", false
	}
	b := msg[unix.SizeofIfInfomsg:]
	for len(b) >= unix.SizeofRtAttr {
		l := int(binary.NativeEndian.Uint16(b[0:2]))
		typ := binary.NativeEndian.Uint16(b[2:4])
		if l < unix.SizeofRtAttr || l > len(b) {
			return "", false
		}
		if typ&^unix.NLA_F_NESTED == unix.IFLA_IFNAME {
			v := b[unix.SizeofRtAttr:l]
			if i := indexZero(v); i >= 0 {
				v = v[:i]
			}
			return string(v), true
		}
		al := (l + unix.RTA_ALIGNTO - 1) &^ (unix.RTA_ALIGNTO - 1)
		if al > len(b) {
			break
		}
		b = b[al:]
	}
	return "", false
}

func indexZero(b []byte) int {
	for i, c := range b {
		if c == 0 {
			return i
		}
	}
	return -1
}
