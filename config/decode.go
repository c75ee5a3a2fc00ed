package config

import (
	"fmt"
	"math"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"
)

// KeyError is one problem with one configuration key. Load and LoadBytes return every
// KeyError they find, joined with errors.Join; use errors.As to get the first, or the
// Unwrap() []error of the joined error to get them all.
type KeyError struct {
	// File is the file name, "" for LoadBytes.
	File string
	// Line is the 1-based line of the key (or of the nearest enclosing table found) in the
	// file, 0 when not known or when the value came from the environment.
	Line int
	// Key is the full key path in gobgpd's spelling, with list indexes:
	// neighbors[2].config.peer-as.
	Key string
	// Env is the environment variable the value came from, "" for the file.
	Env string
	// Msg says what is wrong, quoting the value.
	Msg string
}

func (e *KeyError) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		if e.Line > 0 {
			b.WriteString(":" + strconv.Itoa(e.Line))
		}
		b.WriteString(": ")
	} else if e.Line > 0 {
		b.WriteString("line " + strconv.Itoa(e.Line) + ": ")
	}
	b.WriteString(e.Key)
	b.WriteString(": ")
	b.WriteString(e.Msg)
	if e.Env != "" {
		b.WriteString(" (from $" + e.Env + ")")
	}
	return b.String()
}

// decoder turns the raw key tree viper produced into fanout's structs. It collects every
// error instead of stopping at the first. It lives for one load.
type decoder struct {
	env     map[string]string // FANOUT_* environment, nil for none
	envUsed map[string]bool   // variables that matched a key
	errs    []*KeyError
}

// record notes which keys of one neighbor or peer group were set, relative to its root
// (timers.config.hold-time), so inheritance and defaults can tell "set to zero" from "unset".
type record struct {
	s      PeerSettings
	set    map[string]bool
	afiSet []map[string]bool // per entry of s.AfiSafis, keys relative to the entry
}

func newRecord() *record { return &record{set: map[string]bool{}} }

func (r *record) clone() *record {
	c := &record{s: r.s.clone(), set: make(map[string]bool, len(r.set))}
	for k := range r.set {
		c.set[k] = true
	}
	for _, m := range r.afiSet {
		mc := make(map[string]bool, len(m))
		for k := range m {
			mc[k] = true
		}
		c.afiSet = append(c.afiSet, mc)
	}
	return c
}

// table is one table (map) of the raw tree being decoded. m is nil when the table is absent
// from the file: its keys can still come from the environment.
type table struct {
	d    *decoder
	path string // full key path, "" for the root
	m    map[string]any
	used map[string]bool
	// set and rel record which keys were set, relative to the current record.
	set map[string]bool
	rel string
}

func (d *decoder) root(m map[string]any) *table {
	return &table{d: d, m: m, used: map[string]bool{}}
}

func (t *table) key(k string) string {
	if t.path == "" {
		return k
	}
	return t.path + "." + k
}

func (t *table) relKey(k string) string {
	if t.rel == "" {
		return k
	}
	return t.rel + "." + k
}

func (t *table) errorf(k, env, format string, args ...any) {
	t.d.errs = append(t.d.errs, &KeyError{Key: t.key(k), Env: env, Msg: fmt.Sprintf(format, args...)})
}

// envName maps a key path to its environment variable: FANOUT_ then the path in upper case
// with '.', '-', '[' turned into '_' and ']' dropped (neighbors[0].config.peer-as becomes
// FANOUT_NEIGHBORS_0_CONFIG_PEER_AS).
func envName(path string) string {
	return "FANOUT_" + strings.ToUpper(envReplacer.Replace(path))
}

var envReplacer = strings.NewReplacer(".", "_", "-", "_", "[", "_", "]", "")

// raw returns the value of key k, from the environment if set there, else from the file.
func (t *table) raw(k string) (v any, env string, ok bool) {
	t.used[k] = true
	if t.d.env != nil {
		name := envName(t.key(k))
		if s, found := t.d.env[name]; found {
			t.d.envUsed[name] = true
			return s, name, true
		}
	}
	v, ok = t.m[k]
	if ok && v == nil {
		ok = false
	}
	return v, "", ok
}

func (t *table) mark(k string) {
	if t.set != nil {
		t.set[t.relKey(k)] = true
	}
}

// sub returns the child table k; a missing child is an empty table.
func (t *table) sub(k string) *table {
	c := &table{d: t.d, path: t.key(k), used: map[string]bool{}, set: t.set, rel: t.relKey(k)}
	t.used[k] = true
	v, ok := t.m[k]
	if !ok || v == nil {
		return c
	}
	m, ok := asMap(v)
	if !ok {
		t.errorf(k, "", "wants a table, got %s", show(v))
		return c
	}
	c.m = m
	return c
}

// list returns the tables of the array of tables k.
func (t *table) list(k string) []*table {
	t.used[k] = true
	v, ok := t.m[k]
	if !ok || v == nil {
		return nil
	}
	items, ok := v.([]any)
	if !ok {
		if _, isMap := asMap(v); isMap {
			// A lone table where a list is expected: TOML [neighbors] instead of [[neighbors]].
			t.errorf(k, "", "wants a list of tables ([[%s]] in TOML, a '- ' list in YAML), got a single table", k)
			return nil
		}
		t.errorf(k, "", "wants a list of tables, got %s", show(v))
		return nil
	}
	out := make([]*table, 0, len(items))
	for i, it := range items {
		p := fmt.Sprintf("%s[%d]", t.key(k), i)
		m, ok := asMap(it)
		if !ok {
			t.d.errs = append(t.d.errs, &KeyError{Key: p, Msg: "wants a table, got " + show(it)})
			continue
		}
		out = append(out, &table{d: t.d, path: p, m: m, used: map[string]bool{}})
	}
	return out
}

// finish reports every key of the table that nothing read: gobgpd keys fanout does not
// support, named in unsupported, and keys gobgpd does not know either.
func (t *table) finish(unsupported ...string) {
	keys := make([]string, 0, len(t.m))
	for k := range t.m {
		if !t.used[k] {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		if slices.Contains(unsupported, k) {
			t.errorf(k, "", "gobgpd setting not supported by fanout")
		} else {
			t.errorf(k, "", "unknown key")
		}
	}
}

func asMap(v any) (map[string]any, bool) {
	switch m := v.(type) {
	case map[string]any:
		return m, true
	case map[any]any:
		out := make(map[string]any, len(m))
		for k, v := range m {
			out[strings.ToLower(fmt.Sprint(k))] = v
		}
		return out, true
	}
	return nil, false
}

// show renders a raw value for a message: strings quoted, the rest as written.
func show(v any) string {
	switch x := v.(type) {
	case string:
		return strconv.Quote(x)
	case map[string]any, map[any]any:
		return "a table"
	case []any:
		return "a list"
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64)
	}
	return fmt.Sprint(v)
}

// str reads a string.
func (t *table) str(k string, dst *string) bool {
	v, env, ok := t.raw(k)
	if !ok {
		return false
	}
	s, isStr := v.(string)
	if !isStr {
		switch v.(type) {
		case int, int64, uint64, float64:
			s = show(v) // gobgpd (viper, weakly typed) takes numbers as strings too
		default:
			t.errorf(k, env, "wants a string, got %s", show(v))
			return false
		}
	}
	*dst = s
	t.mark(k)
	return true
}

// boolean reads true or false (or their spellings strconv.ParseBool takes, for env).
func (t *table) boolean(k string, dst *bool) bool {
	v, env, ok := t.raw(k)
	if !ok {
		return false
	}
	switch x := v.(type) {
	case bool:
		*dst = x
	case string:
		b, err := strconv.ParseBool(strings.TrimSpace(x))
		if err != nil {
			t.errorf(k, env, "wants true or false, got %s", show(v))
			return false
		}
		*dst = b
	default:
		t.errorf(k, env, "wants true or false, got %s", show(v))
		return false
	}
	t.mark(k)
	return true
}

// number returns v as a float64 (integers exactly up to 2^53, enough for every key here).
func number(v any) (float64, bool) {
	switch x := v.(type) {
	case int:
		return float64(x), true
	case int64:
		return float64(x), true
	case uint64:
		return float64(x), true
	case float64:
		return x, !math.IsNaN(x) && !math.IsInf(x, 0)
	case string:
		f, err := strconv.ParseFloat(strings.TrimSpace(x), 64)
		return f, err == nil && !math.IsNaN(f) && !math.IsInf(f, 0)
	}
	return 0, false
}

// integer reads a whole number in [lo, hi].
func (t *table) integer(k string, lo, hi int64, dst *int64) bool {
	v, env, ok := t.raw(k)
	if !ok {
		return false
	}
	f, isNum := number(v)
	if !isNum {
		t.errorf(k, env, "wants a number, got %s", show(v))
		return false
	}
	if f != math.Trunc(f) {
		t.errorf(k, env, "%s is not a whole number", show(v))
		return false
	}
	if f < float64(lo) || f > float64(hi) {
		t.errorf(k, env, "%s is out of range (%d to %d)", show(v), lo, hi)
		return false
	}
	*dst = int64(f)
	t.mark(k)
	return true
}

func uintKey[T uint8 | uint16 | uint32](t *table, k string, lo, hi int64, dst *T) bool {
	var n int64
	if !t.integer(k, lo, hi, &n) {
		return false
	}
	*dst = T(n)
	return true
}

func intKey(t *table, k string, lo, hi int64, dst *int) bool {
	var n int64
	if !t.integer(k, lo, hi, &n) {
		return false
	}
	*dst = int(n)
	return true
}

// asNumber reads an AS number.
func (t *table) asNumber(k string, dst *uint32) bool {
	v, env, ok := t.raw(k)
	if !ok {
		return false
	}
	f, isNum := number(v)
	switch {
	case !isNum || f != math.Trunc(f) || f < 1 || f > math.MaxUint32:
		t.errorf(k, env, "%s is not a valid AS number (1 to 4294967295)", show(v))
		return false
	case f == 23456:
		t.errorf(k, env, "23456 is AS_TRANS, reserved and not a valid AS number (RFC 6793)")
		return false
	}
	*dst = uint32(f)
	t.mark(k)
	return true
}

// seconds reads a number of seconds (gobgpd's timers) in [0, hi]; whole requires an integer.
func (t *table) seconds(k string, hi float64, whole bool, dst *time.Duration) bool {
	v, env, ok := t.raw(k)
	if !ok {
		return false
	}
	f, isNum := number(v)
	switch {
	case !isNum:
		t.errorf(k, env, "wants a number of seconds, got %s", show(v))
		return false
	case f < 0:
		t.errorf(k, env, "%s is negative", show(v))
		return false
	case whole && f != math.Trunc(f):
		t.errorf(k, env, "%s is not a whole number of seconds", show(v))
		return false
	case f > hi:
		t.errorf(k, env, "%s is more than %g seconds", show(v), hi)
		return false
	}
	*dst = time.Duration(f * float64(time.Second))
	t.mark(k)
	return true
}

// duration reads a Go duration string ("30s", "1m30s") or a number of seconds, in [0, hi].
func (t *table) duration(k string, hi time.Duration, dst *time.Duration) bool {
	v, env, ok := t.raw(k)
	if !ok {
		return false
	}
	var d time.Duration
	if s, isStr := v.(string); isStr && strings.TrimSpace(s) != "" && !isNumeric(s) {
		var err error
		d, err = time.ParseDuration(strings.TrimSpace(s))
		if err != nil {
			t.errorf(k, env, "%s is not a duration (write it like \"90s\", \"5m\" or \"1h30m\")", show(v))
			return false
		}
	} else {
		f, isNum := number(v)
		if !isNum || math.Abs(f) > float64(math.MaxInt64/int64(time.Second)) {
			t.errorf(k, env, "%s is not a duration (write it like \"90s\", \"5m\" or \"1h30m\")", show(v))
			return false
		}
		d = time.Duration(f * float64(time.Second))
	}
	if d < 0 {
		t.errorf(k, env, "%s is negative", show(v))
		return false
	}
	if d > hi {
		t.errorf(k, env, "%s is more than %s", show(v), hi)
		return false
	}
	*dst = d
	t.mark(k)
	return true
}

func isNumeric(s string) bool {
	_, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	return err == nil
}

// addr reads an IP address (an IPv6 link-local one may carry a zone when zone is true).
func (t *table) addr(k string, zone bool, dst *netip.Addr) bool {
	var s string
	if !t.str(k, &s) {
		return false
	}
	a, err := netip.ParseAddr(strings.TrimSpace(s))
	if err != nil {
		t.errorf(k, t.envOf(k), "%s is not an IP address", strconv.Quote(s))
		return false
	}
	if a.Zone() != "" && (!zone || !a.IsLinkLocalUnicast()) {
		t.errorf(k, t.envOf(k), "%s: only an IPv6 link-local neighbor address may carry a zone", strconv.Quote(s))
		return false
	}
	*dst = a
	return true
}

// envOf names the variable key k was read from, for errors found after reading it.
func (t *table) envOf(k string) string {
	if t.d.env == nil {
		return ""
	}
	name := envName(t.key(k))
	if _, ok := t.d.env[name]; ok {
		return name
	}
	return ""
}

// strList reads a list of strings; a single string (as from the environment) is split on
// commas.
func (t *table) strList(k string, dst *[]string) bool {
	v, env, ok := t.raw(k)
	if !ok {
		return false
	}
	var out []string
	switch x := v.(type) {
	case string:
		for _, f := range strings.Split(x, ",") {
			if f = strings.TrimSpace(f); f != "" {
				out = append(out, f)
			}
		}
	case []any:
		for i, it := range x {
			s, isStr := it.(string)
			if !isStr {
				t.d.errs = append(t.d.errs, &KeyError{Key: fmt.Sprintf("%s[%d]", t.key(k), i), Env: env,
					Msg: "wants a string, got " + show(it)})
				return false
			}
			out = append(out, s)
		}
	default:
		t.errorf(k, env, "wants a list of strings, got %s", show(v))
		return false
	}
	*dst = out
	t.mark(k)
	return true
}
