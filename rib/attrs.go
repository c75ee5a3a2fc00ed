package rib

import (
	"net/netip"
	"sync"

	"github.com/cespare/xxhash/v2"
)

// Attrs is an interned, immutable path attribute set: the canonical wire encoding of the
// attributes (4-octet AS numbers, MP attributes excluded) plus the next hop, and the fields
// best-path selection reads, decoded once. Identical attribute sets are stored once in the
// whole process and shared by every path that carries them.
//
// Owner: the AttrTable that made it. Cardinality: one per distinct attribute set in use.
// Lifetime: from the first Intern of its contents until the last Release; after that the
// pointer must not be used. Fields are read-only after interning, so any task may read them.
type Attrs struct {
	key string // canonical encoding + next hop: the intern key

	// Summary is what best-path selection and export read without decoding Wire.
	Summary

	refs  int32 // guarded by the owning shard's mutex
	shard uint8 // the owning shard's index, so Ref and Release do not hash the key again
	// tab is the table that interned the set: references are counted there whichever
	// table's Ref or Release is called, so a set can be handed on unchanged (an export
	// that rewrites nothing) without being interned again. nil: never interned.
	tab *AttrTable
}

// Summary is the part of an attribute set that best-path selection and export need
// decoded. The reader that interns a set computes it from the decoded UPDATE. It is laid
// out in 48 bytes (one per distinct attribute set): lengths are 16-bit (an attribute is at
// most 65535 bytes long, so neither count can exceed that) and ORIGINATOR_ID, a BGP
// identifier, is four bytes (RFC 4456 §8).
type Summary struct {
	NextHop         netip.Addr
	MED             uint32
	LocalPref       uint32
	NeighborAS      uint32  // first AS of the leftmost AS_SEQUENCE, 0 when none (RFC 4271 §9.1.2.2 (c))
	OriginatorID    [4]byte // valid when HasOriginatorID
	PathLen         uint16  // AS_PATH length per RFC 4271 §9.1.2.2 (a)
	ClusterLen      uint16  // CLUSTER_LIST length in cluster ids (RFC 4456 §9)
	Origin          uint8
	HasMED          bool
	HasLocalPref    bool
	HasOriginatorID bool
}

// Wire returns the canonical encoding of the attributes (without the next hop suffix).
// Append it to an encoding buffer with append(dst, a.Wire()...), which does not allocate.
func (a *Attrs) Wire() string { return a.key[:len(a.key)-nhKeyLen] }

// WireLen returns the length of the canonical encoding.
func (a *Attrs) WireLen() int { return len(a.key) - nhKeyLen }

// Refs returns the current reference count (for tests and diagnostics).
func (a *Attrs) Refs(t *AttrTable) int32 {
	if a.tab != nil {
		t = a.tab
	}
	s := &t.shards[a.shard]
	s.mu.Lock()
	defer s.mu.Unlock()
	return a.refs
}

const (
	attrShards = 64
	nhKeyLen   = 17 // 16 address bytes and a family byte appended to the canonical encoding
)

// AttrTable interns attribute sets. It is shared by every peer reader (which intern) and
// every partition task (which release), so it is one of the few synchronised hand-off
// points: 64 shards, each a mutex guarding its map and the reference counts of its sets.
// Owner: the bgp.Server; one per server; lives as long as the server.
type AttrTable struct {
	shards [attrShards]attrShard
}

type attrShard struct {
	mu sync.Mutex
	m  map[string]*Attrs // guarded by mu
	_  [40]byte          // keep shards on separate cache lines
}

// NewAttrTable returns an empty table.
func NewAttrTable() *AttrTable {
	t := &AttrTable{}
	for i := range t.shards {
		t.shards[i].m = make(map[string]*Attrs)
	}
	return t
}

// shardIndex is the shard a key belongs to.
func shardIndex(key []byte) uint8 { return uint8(xxhash.Sum64(key) % attrShards) }

// InternKey builds the intern key of an attribute encoding and next hop into buf (reused by
// the caller) and returns it.
func InternKey(buf []byte, wire []byte, nh netip.Addr) []byte {
	buf = append(buf[:0], wire...)
	a := nh.As16()
	buf = append(buf, a[:]...)
	switch {
	case nh.Is4():
		buf = append(buf, 4)
	case nh.Is6():
		buf = append(buf, 6)
	default:
		buf = append(buf, 0)
	}
	return buf
}

// Intern returns the shared Attrs for key (built by InternKey), taking one reference. When
// the set is new, sum is stored with it; when it exists, sum is ignored. Looking up an
// existing set does not allocate.
func (t *AttrTable) Intern(key []byte, sum *Summary) *Attrs { return t.InternN(key, sum, 1) }

// InternN is Intern taking n references at once: one per path about to carry the set (an
// UPDATE's prefixes share one lookup).
func (t *AttrTable) InternN(key []byte, sum *Summary, n int) *Attrs {
	si := shardIndex(key)
	s := &t.shards[si]
	s.mu.Lock()
	a, ok := s.m[string(key)]
	if !ok {
		a = &Attrs{key: string(key), Summary: *sum, shard: si, tab: t}
		s.m[a.key] = a
	}
	a.refs += int32(n)
	s.mu.Unlock()
	return a
}

// Ref takes another reference to a, which the caller already holds a reference to. The
// reference is counted in the table that interned a (see Attrs.tab).
func (t *AttrTable) Ref(a *Attrs) {
	if a.tab == nil {
		return // never interned: not counted
	}
	s := &a.tab.shards[a.shard]
	s.mu.Lock()
	a.refs++
	s.mu.Unlock()
}

// Release drops one reference; the set is removed from the table that interned it with
// the last one.
func (t *AttrTable) Release(a *Attrs) {
	if a.tab == nil {
		return
	}
	s := &a.tab.shards[a.shard]
	s.mu.Lock()
	a.refs--
	if a.refs <= 0 {
		delete(s.m, a.key)
	}
	s.mu.Unlock()
}

// Len returns the number of distinct attribute sets held.
func (t *AttrTable) Len() int {
	n := 0
	for i := range t.shards {
		s := &t.shards[i]
		s.mu.Lock()
		n += len(s.m)
		s.mu.Unlock()
	}
	return n
}

// Bytes returns the bytes held by interned encodings (for the bytes-per-path diagnostics).
func (t *AttrTable) Bytes() int {
	n := 0
	for i := range t.shards {
		s := &t.shards[i]
		s.mu.Lock()
		for k := range s.m {
			n += len(k)
		}
		s.mu.Unlock()
	}
	return n
}
