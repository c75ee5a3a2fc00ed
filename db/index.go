package db

// keyIndex finds a partition's entries by key. It is an open-addressing hash table with linear
// probing over a power-of-two array of uint32 slots; a slot holds 1 + the entry's position
// in the partition's dense slice (0 is an empty slot) in its low log2(len(slots)) bits and,
// in the bits above, a tag: more bits of the key's hash, so a probe compares keys only when
// the tags match. Keys are not stored: they are read through dense. At most 3/4 of the
// slots are used, so a partition pays 5.3 to 10.7 bytes per entry for its index, where a
// map[K]*Entry pays the key again, a pointer and the map's own overhead.
//
// Deletion shifts the rest of the probe run back (no tombstones), so lookups stay short
// under churn; the array shrinks when less than 1/8 of it is in use.
//
// Owner: the partition that holds it (its db.partition and db.walk tasks). It allocates only
// when it grows or shrinks.
type keyIndex struct {
	slots []uint32
	bits  uint8 // log2(len(slots)); 0 when slots is nil
	used  int
}

const (
	indexMinBits = 4
	indexMaxBits = 31 // positions stay below 2^31: dense is indexed by int32 (Entry.pos)
)

// mixHash spreads a table hash over the index's bits: a multiplicative (Fibonacci) hash, so
// even hashes that vary only in their low bits (the tests' identity hash, or hashes whose
// low bits chose the partition) use every slot.
func mixHash(h uint64) uint64 { return h * 0x9e3779b97f4a7c15 }

// home returns the first slot to probe for mixed hash m, and m's tag.
func (x *keyIndex) home(m uint64) (i, tag uint32) {
	b := uint32(x.bits)
	return uint32(m >> (64 - b)), uint32(m>>32) << b
}

func (x *keyIndex) mask() uint32 { return uint32(1)<<x.bits - 1 }

// find returns the position in dense of the entry with key k (hash h), or -1.
func find[K comparable, D any](x *keyIndex, dense []*Entry[K, D], k K, h uint64) int {
	if x.used == 0 {
		return -1
	}
	mask := x.mask()
	i, tag := x.home(mixHash(h))
	for {
		s := x.slots[i]
		if s == 0 {
			return -1
		}
		if s&^mask == tag {
			if pos := int(s&mask) - 1; dense[pos].key == k {
				return pos
			}
		}
		i = (i + 1) & mask
	}
}

// insert records that the entry with hash h will be at position len(dense): call it before
// appending the entry to dense. The key must not be in the index yet.
func insert[K comparable, D any](x *keyIndex, dense []*Entry[K, D], hash func(K) uint64, h uint64) {
	if (x.used+1)*4 > len(x.slots)*3 {
		resize(x, dense, hash, max(x.bits+1, indexMinBits))
	}
	x.put(len(dense), mixHash(h))
	x.used++
}

// put stores position pos with mixed hash m in the first free slot of its run.
func (x *keyIndex) put(pos int, m uint64) {
	mask := x.mask()
	i, tag := x.home(m)
	for x.slots[i] != 0 {
		i = (i + 1) & mask
	}
	x.slots[i] = tag | uint32(pos+1)
}

// slotOf returns the slot holding position pos, whose key has hash h.
func (x *keyIndex) slotOf(pos int, h uint64) uint32 {
	mask := x.mask()
	i, _ := x.home(mixHash(h))
	want := uint32(pos + 1)
	for x.slots[i]&mask != want {
		i = (i + 1) & mask
	}
	return i
}

// move records that the entry at position from (hash h) is now at position to.
func (x *keyIndex) move(from, to int, h uint64) {
	i := x.slotOf(from, h)
	x.slots[i] = x.slots[i]&^x.mask() | uint32(to+1)
}

// remove deletes position pos (hash h) from the index. dense must still hold every entry the
// index refers to: the entries after it in its probe run are rehashed to see whether they
// may move back into the gap.
func remove[K comparable, D any](x *keyIndex, dense []*Entry[K, D], hash func(K) uint64, pos int, h uint64) {
	mask := x.mask()
	gap := x.slotOf(pos, h)
	for j := (gap + 1) & mask; x.slots[j] != 0; j = (j + 1) & mask {
		s := x.slots[j]
		home, _ := x.home(mixHash(hash(dense[int(s&mask)-1].key)))
		// The entry at j may fill the gap unless its home lies cyclically in (gap, j].
		if (j-home)&mask >= (j-gap)&mask {
			x.slots[gap] = s
			gap = j
		}
	}
	x.slots[gap] = 0
	x.used--
}

// shrink makes the array smaller when less than 1/8 of it is in use, to a load under 1/2.
// dense holds exactly the entries of the index.
func shrink[K comparable, D any](x *keyIndex, dense []*Entry[K, D], hash func(K) uint64) {
	if x.bits <= indexMinBits || x.used*8 >= len(x.slots) {
		return
	}
	b := uint8(indexMinBits)
	for x.used*2 > 1<<b {
		b++
	}
	resize(x, dense, hash, b)
}

// resize rebuilds the index with 2^bits slots from dense, every entry of which it holds.
func resize[K comparable, D any](x *keyIndex, dense []*Entry[K, D], hash func(K) uint64, bits uint8) {
	if bits > indexMaxBits {
		panic("db: partition index full")
	}
	x.bits = bits
	x.slots = make([]uint32, 1<<bits)
	for pos, e := range dense {
		x.put(pos, mixHash(hash(e.key)))
	}
}
