package vport

import (
	"encoding/xml"
	"strings"
	"testing"
)

func TestNormalize(t *testing.T) {
	tests := []struct {
		name    string
		in      VirtualPort
		want    Params // after normalisation
		wantErr string // substring; "" = no error
	}{
		{"qbg full decimal", VirtualPort{Type: Qbg, Params: &Params{ManagerID: "11", TypeID: "1193047", TypeIDVersion: "2", InstanceID: "09B11C53-8B5C-4EEB-8F00-D84EAA0AAA4F"}},
			Params{ManagerID: "11", TypeID: "1193047", TypeIDVersion: "2", InstanceID: "09b11c53-8b5c-4eeb-8f00-d84eaa0aaa4f"}, ""},
		{"qbg hex and octal as libvirt (base 0)", VirtualPort{Type: Qbg, Params: &Params{ManagerID: "0x0b", TypeID: "0x123456", TypeIDVersion: "010"}},
			Params{ManagerID: "11", TypeID: "1193046", TypeIDVersion: "8"}, ""},
		{"qbg bounds", VirtualPort{Type: Qbg, Params: &Params{ManagerID: "255", TypeID: "16777215", TypeIDVersion: "0"}},
			Params{ManagerID: "255", TypeID: "16777215", TypeIDVersion: "0"}, ""},
		{"managerid too big", VirtualPort{Type: Qbg, Params: &Params{ManagerID: "256"}}, Params{}, "managerid parameter 256 out of range"},
		{"typeid too big", VirtualPort{Type: Qbg, Params: &Params{TypeID: "16777216"}}, Params{}, "typeid parameter 16777216 out of range"},
		{"typeidversion too big", VirtualPort{Type: Qbg, Params: &Params{TypeIDVersion: "256"}}, Params{}, "typeidversion parameter 256 out of range"},
		{"binary prefix refused", VirtualPort{Type: Qbg, Params: &Params{TypeID: "0b11"}}, Params{}, "cannot parse typeid"},
		{"0o prefix refused", VirtualPort{Type: Qbg, Params: &Params{TypeID: "0o7"}}, Params{}, "cannot parse typeid"},
		{"underscore refused", VirtualPort{Type: Qbg, Params: &Params{TypeID: "1_0"}}, Params{}, "cannot parse typeid"},
		{"plus refused", VirtualPort{Type: Qbg, Params: &Params{TypeID: "+1"}}, Params{}, "cannot parse typeid"},
		{"bad octal digit", VirtualPort{Type: Qbg, Params: &Params{TypeID: "09"}}, Params{}, "cannot parse typeid"},
		{"zero", VirtualPort{Type: Qbg, Params: &Params{TypeID: "0"}}, Params{TypeID: "0"}, ""},
		{"negative number", VirtualPort{Type: Qbg, Params: &Params{ManagerID: "-1"}}, Params{}, "cannot parse managerid"},
		{"bad instanceid", VirtualPort{Type: Qbg, Params: &Params{InstanceID: "nope"}}, Params{}, "cannot parse instanceid"},
		{"qbg refuses profileid", VirtualPort{Type: Qbg, Params: &Params{ProfileID: "x"}}, Params{}, "parameter profileid is not allowed in <virtualport type='802.1Qbg'>"},
		{"qbg refuses interfaceid", VirtualPort{Type: Qbg, Params: &Params{InterfaceID: "09b11c53-8b5c-4eeb-8f00-d84eaa0aaa4f"}}, Params{}, "interfaceid is not allowed"},
		{"qbh profileid", VirtualPort{Type: Qbh, Params: &Params{ProfileID: "finance"}}, Params{ProfileID: "finance"}, ""},
		{"qbh profileid 39", VirtualPort{Type: Qbh, Params: &Params{ProfileID: strings.Repeat("p", 39)}}, Params{ProfileID: strings.Repeat("p", 39)}, ""},
		{"qbh profileid 40", VirtualPort{Type: Qbh, Params: &Params{ProfileID: strings.Repeat("p", 40)}}, Params{}, "profileid parameter too long"},
		{"qbh refuses typeid", VirtualPort{Type: Qbh, Params: &Params{TypeID: "1"}}, Params{}, "typeid is not allowed in <virtualport type='802.1Qbh'>"},
		{"ovs interfaceid without dashes", VirtualPort{Type: OpenVSwitch, Params: &Params{InterfaceID: "09b11c538b5c4eeb8f00d84eaa0aaa4f", ProfileID: "p"}},
			Params{InterfaceID: "09b11c53-8b5c-4eeb-8f00-d84eaa0aaa4f", ProfileID: "p"}, ""},
		{"ovs refuses managerid", VirtualPort{Type: OpenVSwitch, Params: &Params{ManagerID: "1"}}, Params{}, "managerid is not allowed"},
		{"unknown type", VirtualPort{Type: "midonet"}, Params{}, "unknown <virtualport> type 'midonet'"},
		{"typeless checks ranges", VirtualPort{Params: &Params{TypeID: "99999999"}}, Params{}, "out of range"},
		{"typeless accepts any known param", VirtualPort{Params: &Params{TypeID: "33", ProfileID: "x"}}, Params{TypeID: "33", ProfileID: "x"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := tt.in.Clone()
			err := v.Normalize()
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Normalize() error = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Normalize() error = %v", err)
			}
			got := Params{}
			if v.Params != nil {
				got = *v.Params
			}
			if got != tt.want {
				t.Fatalf("Normalize() params = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestNormalizeDropsEmptyParams(t *testing.T) {
	v := &VirtualPort{Type: Qbh, Params: &Params{}}
	if err := v.Normalize(); err != nil {
		t.Fatal(err)
	}
	if v.Params != nil {
		t.Fatalf("empty <parameters> kept: %+v", v.Params)
	}
}

func TestMissing(t *testing.T) {
	tests := []struct {
		v    VirtualPort
		want string
	}{
		{VirtualPort{Type: Qbg, Params: &Params{ManagerID: "1", TypeIDVersion: "1", InstanceID: "x"}}, "typeid"},
		{VirtualPort{Type: Qbg, Params: &Params{ManagerID: "1", TypeID: "1", TypeIDVersion: "1", InstanceID: "x"}}, ""},
		{VirtualPort{Type: Qbh}, "profileid"},
		{VirtualPort{Type: OpenVSwitch, Params: &Params{ProfileID: "p"}}, "interfaceid"},
		{VirtualPort{}, ""},
	}
	for _, tt := range tests {
		if got := tt.v.Missing(); got != tt.want {
			t.Errorf("%+v Missing() = %q, want %q", tt.v, got, tt.want)
		}
	}
}

func TestParseUUID(t *testing.T) {
	for in, want := range map[string]string{
		"09B11C53-8B5C-4EEB-8F00-D84EAA0AAA4F": "09b11c53-8b5c-4eeb-8f00-d84eaa0aaa4f",
		"09b11c538b5c4eeb8f00d84eaa0aaa4f":     "09b11c53-8b5c-4eeb-8f00-d84eaa0aaa4f",
		"09b11c53-8b5c-4eeb-8f00-d84eaa0aaa4":  "",
		"09b11c53-8b5c-4eeb-8f00-d84eaa0aaa4g": "",
		"../../etc/passwd":                     "",
	} {
		got, err := ParseUUID(in)
		if want == "" {
			if err == nil {
				t.Errorf("ParseUUID(%q) = %q, want error", in, got)
			}
			continue
		}
		if err != nil || got != want {
			t.Errorf("ParseUUID(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}

func TestNewUUIDIsValidAndRandom(t *testing.T) {
	a, b := NewUUID(), NewUUID()
	if a == b {
		t.Fatalf("two NewUUID calls gave %s", a)
	}
	if c, err := ParseUUID(a); err != nil || c != a {
		t.Fatalf("NewUUID() = %q is not canonical (%q, %v)", a, c, err)
	}
	if a[14] != '4' {
		t.Fatalf("NewUUID() = %q is not version 4", a)
	}
}

func TestFormatParsesBack(t *testing.T) {
	v := &VirtualPort{Type: Qbg, Params: &Params{ManagerID: "11", TypeID: "33", TypeIDVersion: "2", InstanceID: "09b11c53-8b5c-4eeb-8f00-d84eaa0aaa4f"}}
	out := v.Format("    ")
	want := "    <virtualport type='802.1Qbg'>\n      <parameters managerid='11' typeid='33' typeidversion='2' instanceid='09b11c53-8b5c-4eeb-8f00-d84eaa0aaa4f'/>\n    </virtualport>\n"
	if out != want {
		t.Fatalf("Format:\n%s\nwant:\n%s", out, want)
	}
	var back VirtualPort
	if err := xml.Unmarshal([]byte(out), &back); err != nil {
		t.Fatal(err)
	}
	if back.Type != v.Type || *back.Params != *v.Params {
		t.Fatalf("parsed back %+v %+v", back, back.Params)
	}
	if got := (&VirtualPort{Type: Qbh}).Format(""); got != "<virtualport type='802.1Qbh'/>\n" {
		t.Fatalf("type-only Format = %q", got)
	}
	if (*VirtualPort)(nil).Format("") != "" {
		t.Fatal("nil Format not empty")
	}
	if got := (&VirtualPort{Type: Qbh, Params: &Params{ProfileID: "a'b<c"}}).Format(""); !strings.Contains(got, "profileid='a&apos;b&lt;c'") {
		t.Fatalf("attribute not escaped: %q", got)
	}
}

func TestCloneIsDeep(t *testing.T) {
	v := &VirtualPort{Type: Qbg, Params: &Params{TypeID: "1"}}
	c := v.Clone()
	c.Set("typeid", "2")
	if v.Get("typeid") != "1" {
		t.Fatal("Clone shares Params")
	}
	if (*VirtualPort)(nil).Clone() != nil {
		t.Fatal("nil Clone not nil")
	}
}
