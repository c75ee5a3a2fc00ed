package config

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
)

// lineIndex maps key paths in the decoder's spelling (lower case, list indexes in brackets:
// neighbors[2].config.peer-as) to the 1-based line where the file writes them. viper keeps no
// positions, so errors get their lines from this second, light read of the file, built only
// when there are errors to place.
type lineIndex map[string]int

func (ix lineIndex) add(path string, line int) {
	if _, ok := ix[path]; !ok && path != "" {
		ix[path] = line
	}
}

// find returns the line of key, or of its nearest enclosing table or list entry that the file
// writes (a key that is missing, inherited or written inline has no line of its own), or 0.
func (ix lineIndex) find(key string) int {
	for key != "" {
		if l, ok := ix[key]; ok {
			return l
		}
		i := strings.LastIndexAny(key, ".[")
		if i < 0 {
			return 0
		}
		key = key[:i]
	}
	return 0
}

func indexLines(data []byte, format string) lineIndex {
	switch format {
	case "toml":
		return tomlLines(data)
	case "yaml":
		return yamlLines(data)
	case "json":
		return jsonLines(data)
	}
	return lineIndex{}
}

// tomlLines scans TOML line by line: table headers ([a.b], [[a.b]] with per-parent counts for
// the list indexes) and `key = value` lines. Multi-line strings and arrays are not parsed; a
// line inside one that happens to look like a key is harmless, as find only looks up keys the
// decoder names.
func tomlLines(data []byte) lineIndex {
	ix := lineIndex{}
	counts := map[string]int{} // resolved path of an array of tables -> entries seen
	n := 0                     // current line
	// resolve turns a header's key into a path with list indexes, noting the tables it opens.
	resolve := func(segs []string) string {
		p := ""
		for _, s := range segs {
			p = join(p, s)
			if c := counts[p]; c > 0 {
				p = fmt.Sprintf("%s[%d]", p, c-1)
			}
			ix.add(p, n)
		}
		return p
	}
	cur := ""
	for i, line := range strings.Split(string(data), "\n") {
		n = i + 1
		l := strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(l, "[["):
			end := strings.Index(l, "]]")
			if end < 0 {
				continue
			}
			segs := splitKey(l[2:end])
			if len(segs) == 0 {
				continue
			}
			p := join(resolve(segs[:len(segs)-1]), segs[len(segs)-1])
			ix.add(p, n)
			cur = fmt.Sprintf("%s[%d]", p, counts[p])
			counts[p]++
			ix.add(cur, n)
		case strings.HasPrefix(l, "["):
			end := strings.LastIndexByte(l, ']')
			if end < 0 {
				continue
			}
			segs := splitKey(l[1:end])
			if len(segs) == 0 {
				continue
			}
			cur = resolve(segs)
			ix.add(cur, n)
		default:
			i := strings.IndexByte(l, '=')
			if i <= 0 {
				continue
			}
			segs := splitKey(l[:i])
			if len(segs) == 0 {
				continue
			}
			p := cur
			for _, s := range segs {
				p = join(p, s)
				ix.add(p, n)
			}
		}
	}
	return ix
}

// splitKey splits a TOML key on the dots outside quotes and lower-cases it (viper does). It
// returns nil for text that is not a key.
func splitKey(s string) []string {
	var segs []string
	var b strings.Builder
	quote := byte(0)
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			} else {
				b.WriteByte(c)
			}
		case c == '"' || c == '\'':
			quote = c
		case c == '.':
			segs = append(segs, strings.ToLower(strings.TrimSpace(b.String())))
			b.Reset()
		case c == ' ' || c == '\t' || c == '-' || c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z':
			b.WriteByte(c)
		default:
			return nil
		}
	}
	segs = append(segs, strings.ToLower(strings.TrimSpace(b.String())))
	for _, s := range segs {
		if s == "" {
			return nil
		}
	}
	return segs
}

func join(p, k string) string {
	if p == "" {
		return k
	}
	return p + "." + k
}

// yamlLines walks the yaml.v3 node tree, which keeps every key's line.
func yamlLines(data []byte) lineIndex {
	ix := lineIndex{}
	var doc yaml.Node
	if yaml.Unmarshal(data, &doc) != nil {
		return ix
	}
	var walk func(n *yaml.Node, path string, depth int)
	walk = func(n *yaml.Node, path string, depth int) {
		if n == nil || depth > 64 {
			return
		}
		switch n.Kind {
		case yaml.DocumentNode:
			for _, c := range n.Content {
				walk(c, path, depth+1)
			}
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				p := join(path, strings.ToLower(n.Content[i].Value))
				ix.add(p, n.Content[i].Line)
				walk(n.Content[i+1], p, depth+1)
			}
		case yaml.SequenceNode:
			for i, c := range n.Content {
				p := fmt.Sprintf("%s[%d]", path, i)
				ix.add(p, c.Line)
				walk(c, p, depth+1)
			}
		}
	}
	walk(&doc, "", 0)
	return ix
}

// jsonLines walks the JSON tokens, turning each key's offset into a line.
func jsonLines(data []byte) lineIndex {
	ix := lineIndex{}
	var nl []int // offsets of '\n'
	for i, c := range data {
		if c == '\n' {
			nl = append(nl, i)
		}
	}
	lineAt := func(off int64) int { return sort.SearchInts(nl, int(off)) + 1 }
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var value func(path string, depth int) bool
	value = func(path string, depth int) bool {
		tok, err := dec.Token()
		if err != nil || depth > 64 {
			return false
		}
		if path != "" {
			ix.add(path, lineAt(dec.InputOffset()-1))
		}
		switch tok {
		case json.Delim('{'):
			for dec.More() {
				kt, err := dec.Token()
				k, ok := kt.(string)
				if err != nil || !ok {
					return false
				}
				p := join(path, strings.ToLower(k))
				ix.add(p, lineAt(dec.InputOffset()-1))
				if !value(p, depth+1) {
					return false
				}
			}
			_, err = dec.Token()
		case json.Delim('['):
			for i := 0; dec.More(); i++ {
				if !value(fmt.Sprintf("%s[%d]", path, i), depth+1) {
					return false
				}
			}
			_, err = dec.Token()
		}
		return err == nil
	}
	value("", 0)
	return ix
}
