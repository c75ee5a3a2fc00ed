package db

import (
	"math/rand/v2"
	"testing"
)

// newBarePartition returns a partition with no queue or task, for driving its index directly.
func newBarePartition(hash func(uint64) uint64) *partition[uint64, val, op] {
	return &partition[uint64, val, op]{t: &Table[uint64, val, op]{hash: hash, empty: emptyVal}}
}

// checkIndex verifies the partition against the model: the same keys, dense positions that
// match Entry.pos, and an index that counts and finds every entry.
func checkIndex(t *testing.T, p *partition[uint64, val, op], model map[uint64]*Entry[uint64, val]) {
	t.Helper()
	if len(p.dense) != len(model) || p.keys.used != len(model) {
		t.Fatalf("dense %d, index %d, model %d", len(p.dense), p.keys.used, len(model))
	}
	if p.keys.used*4 > len(p.keys.slots)*3 {
		t.Fatalf("index load %d/%d above 3/4", p.keys.used, len(p.keys.slots))
	}
	for i, e := range p.dense {
		if int(e.pos) != i {
			t.Fatalf("dense[%d] has pos %d", i, e.pos)
		}
		if model[e.key] != e {
			t.Fatalf("dense[%d] key %d is not the model's entry", i, e.key)
		}
	}
	for k, e := range model {
		if got := p.lookup(k, p.t.hash(k)); got != e {
			t.Fatalf("lookup %d = %p, want %p", k, got, e)
		}
	}
	used := 0
	for _, s := range p.keys.slots {
		if s != 0 {
			used++
		}
	}
	if used != p.keys.used {
		t.Fatalf("%d slots in use, index counts %d", used, p.keys.used)
	}
}

// The index is a hash table with linear probing, backward-shift deletion and resizing in
// both directions: random insert, delete and find sequences must agree with a Go map, for a
// good hash, the identity, and a hash so poor that probe runs are long and wrap around.
func TestIndexAgainstMap(t *testing.T) {
	hashes := map[string]func(uint64) uint64{
		"mix":      mix,
		"identity": identity,
		"poor":     func(k uint64) uint64 { return (k % 13) << 60 },
		"constant": func(uint64) uint64 { return 42 },
	}
	for name, hash := range hashes {
		t.Run(name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(1, uint64(len(name))))
			p := newBarePartition(hash)
			model := map[uint64]*Entry[uint64, val]{}
			keySpace := uint64(3000)
			if name == "constant" {
				keySpace = 200 // every probe run is the whole table
			}
			steps := 40000
			for i := range steps {
				k := rng.Uint64N(keySpace)
				// Phases: grow, churn, then drain, so the index grows and shrinks.
				insertBias := 70
				switch {
				case i > steps*2/3:
					insertBias = 15
				case i > steps/3:
					insertBias = 50
				}
				h := hash(k)
				got := p.lookup(k, h)
				if got != model[k] {
					t.Fatalf("step %d: lookup %d = %p, model %p", i, k, got, model[k])
				}
				switch {
				case got == nil && rng.IntN(100) < insertBias:
					e := &Entry[uint64, val]{key: k, pos: -1, Data: val{v: int(k), set: true}}
					p.insert(e, h)
					model[k] = e
				case got != nil && rng.IntN(100) >= insertBias:
					got.Data = val{}
					p.deleteIfUnused(got)
					if got.InTable() {
						t.Fatalf("step %d: deleted entry %d still in the table", i, k)
					}
					delete(model, k)
				}
				if i%997 == 0 {
					checkIndex(t, p, model)
				}
			}
			checkIndex(t, p, model)
			for k, e := range model {
				e.Data = val{}
				p.deleteIfUnused(e)
				delete(model, k)
			}
			checkIndex(t, p, model)
			if len(p.keys.slots) > 1<<indexMinBits {
				t.Errorf("empty index kept %d slots", len(p.keys.slots))
			}
		})
	}
}

// An entry holding listener state stays in the index however empty its data.
func TestIndexKeepsEntriesWithState(t *testing.T) {
	p := newBarePartition(mix)
	e := &Entry[uint64, val]{key: 7, pos: -1, Data: val{set: true}}
	p.insert(e, mix(7))
	e.Data = val{}
	e.SetState(2, e)
	p.deleteIfUnused(e)
	if p.lookup(7, mix(7)) != e || !e.InTable() {
		t.Fatal("an entry with listener state was deleted")
	}
	e.SetState(2, nil)
	p.deleteIfUnused(e)
	if p.lookup(7, mix(7)) != nil || e.InTable() {
		t.Fatal("an entry with no data and no state was kept")
	}
}

// Finding an entry, present or not, does not allocate; neither do state slots once grown.
func TestIndexNoAllocs(t *testing.T) {
	p := newBarePartition(mix)
	for k := range uint64(1000) {
		p.insert(&Entry[uint64, val]{key: k, pos: -1, Data: val{set: true}}, mix(k))
	}
	e := p.lookup(500, mix(500))
	e.SetState(1, e)
	k := uint64(0)
	if n := testing.AllocsPerRun(1000, func() {
		k = (k + 7) % 2000
		_ = p.lookup(k, mix(k))
		_ = e.State(1)
		e.SetState(1, e)
	}); n != 0 {
		t.Fatalf("lookup allocates %v times", n)
	}
}

// TestEntryStates checks listener states against a model whichever slot holds them (the
// inline one or the others'), for ids set and cleared in every order, and that states
// beyond the inline one allocate nothing once only the inline one is left.
func TestEntryStates(t *testing.T) {
	ids := []ListenerID{0, 1, 2, 5, 40000} // 40000 does not fit the inline id
	for order := range 64 {
		e := &Entry[uint64, val]{key: 1, pos: -1}
		model := map[ListenerID]any{}
		r := uint64(order)*2654435761 + 1
		for step := range 40 {
			r = r*6364136223846793005 + 1442695040888963407
			id := ids[int(r>>33)%len(ids)]
			var v any
			if (r>>20)%3 != 0 {
				v = &val{v: step}
				model[id] = v
			} else {
				delete(model, id)
			}
			e.SetState(id, v)
			for _, q := range ids {
				if got := e.State(q); got != model[q] {
					t.Fatalf("order %d step %d: state of %d is %v, want %v", order, step, q, got, model[q])
				}
			}
			if e.HasState() != (len(model) > 0) {
				t.Fatalf("order %d step %d: HasState %v with %d states", order, step, e.HasState(), len(model))
			}
			if len(model) == 0 && e.s0 != nil {
				t.Fatalf("order %d step %d: slots kept with no state", order, step)
			}
		}
	}
	e := &Entry[uint64, val]{key: 1, pos: -1}
	if n := testing.AllocsPerRun(100, func() {
		e.SetState(3, e)
		e.SetState(3, nil)
	}); n != 0 {
		t.Fatalf("the inline state allocates %v times", n)
	}
}
