package rib

import (
	"net/netip"
	"sync"
	"testing"
)

func TestInternSharesAndFrees(t *testing.T) {
	tab := NewAttrTable()
	nh := netip.MustParseAddr("192.0.2.1")
	k1 := InternKey(nil, []byte{0x40, 1, 1, 0}, nh)
	sum := Summary{NextHop: nh, Origin: 0}
	a := tab.Intern(k1, &sum)
	b := tab.Intern(InternKey(nil, []byte{0x40, 1, 1, 0}, nh), &Summary{Origin: 2})
	if a != b {
		t.Fatal("equal attribute sets not shared")
	}
	if b.Origin != 0 {
		t.Fatal("second intern overwrote the stored summary")
	}
	c := tab.Intern(InternKey(nil, []byte{0x40, 1, 1, 0}, netip.MustParseAddr("192.0.2.2")), &sum)
	if c == a {
		t.Fatal("different next hops shared one set")
	}
	if tab.Len() != 2 || a.Refs(tab) != 2 {
		t.Fatalf("len %d refs %d", tab.Len(), a.Refs(tab))
	}
	if a.Wire() != string([]byte{0x40, 1, 1, 0}) {
		t.Fatalf("wire %q", a.Wire())
	}
	tab.Release(a)
	tab.Release(b)
	tab.Release(c)
	if tab.Len() != 0 {
		t.Fatalf("table holds %d sets after the last release", tab.Len())
	}
}

func TestInternConcurrent(t *testing.T) {
	tab := NewAttrTable()
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var buf []byte
			for i := 0; i < 2000; i++ {
				buf = InternKey(buf, []byte{byte(i % 50)}, netip.Addr{})
				a := tab.Intern(buf, &Summary{})
				tab.Release(a)
			}
		}()
	}
	wg.Wait()
	if tab.Len() != 0 {
		t.Fatalf("%d sets leaked", tab.Len())
	}
}

func TestInternLookupNoAllocs(t *testing.T) {
	tab := NewAttrTable()
	key := InternKey(nil, []byte{0x40, 1, 1, 0, 0x40, 2, 0}, netip.MustParseAddr("10.0.0.1"))
	tab.Intern(key, &Summary{})
	if n := testing.AllocsPerRun(100, func() { tab.Release(tab.Intern(key, &Summary{})) }); n != 0 {
		t.Fatalf("interning an existing set allocated %v", n)
	}
}
