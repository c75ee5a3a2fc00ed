package rib

import (
	"testing"
	"unsafe"

	"github.com/fanoutd/fanout/proto"
)

// The RIB's per-prefix and per-path values are sized to allocation classes: a full table
// is half a million of each, so a field that pushes one into the next class costs
// megabytes. These gates say which change did it; the bytes per path of a real table are
// measured by bgp's BenchmarkRIBFullTable.
func TestValueSizes(t *testing.T) {
	for _, c := range []struct {
		name      string
		got, want uintptr
	}{
		{"Path", unsafe.Sizeof(Path{}), 24},
		{"Entry", unsafe.Sizeof(Entry{}), 16},
		{"DBEntry (key, listener id, position, Entry, state)", unsafe.Sizeof(DBEntry{}), 64},
		{"Summary", unsafe.Sizeof(Summary{}), 48},
		{"Attrs", unsafe.Sizeof(Attrs{}), 80},                                   // the 80-byte class
		{"advState (one per prefix and RibOut)", unsafe.Sizeof(advState{}), 32}, // the 32-byte class
	} {
		if c.got != c.want {
			t.Errorf("%s is %d bytes, want %d", c.name, c.got, c.want)
		}
	}
}

func TestLabel(t *testing.T) {
	if (Label{}).IsSet() || (Label{}).Stack().N != 0 || LabelOf(proto.LabelStack{}) != (Label{}) {
		t.Fatal("the zero Label must be no label")
	}
	for _, v := range []uint32{0, 3, 16, 0x12345, 0xfffff} {
		l := MakeLabel(v)
		if !l.IsSet() || l.Value() != v {
			t.Errorf("MakeLabel(%#x): set %v value %#x", v, l.IsSet(), l.Value())
		}
		if s := l.Stack(); s != proto.Label1(v) {
			t.Errorf("MakeLabel(%#x).Stack() = %+v", v, s)
		}
		// The top of a received stack is kept.
		st := proto.LabelStack{N: 2, Labels: [proto.MaxLabels]uint32{v, 99}}
		if LabelOf(st) != l {
			t.Errorf("LabelOf(%+v) = %#x", st, LabelOf(st).Value())
		}
	}
	if MakeLabel(0x1fffff).Value() != 0xfffff {
		t.Error("MakeLabel kept bits above the 20-bit label")
	}
}
