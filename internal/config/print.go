package config

import (
	"io"
	"slices"
	"strconv"
	"strings"
	"unicode"
)

// sortedKeys returns the key table ordered by name.
func sortedKeys() []keyDef {
	defs := keys()
	slices.SortFunc(defs, func(a, b keyDef) int { return strings.Compare(a.name, b.name) })
	return defs
}

// Keys returns every recognised environment variable name, sorted. Each
// key other than TUTORHUB_CONFIG_FILE may also be given as KEY_FILE.
func Keys() []string {
	defs := sortedKeys()
	names := make([]string, len(defs))
	for i, d := range defs {
		names[i] = d.name
	}
	return names
}

// Print writes the effective configuration as "TUTORHUB_KEY=value # source"
// lines sorted by key, where source is default, file, env or env file.
// Secret values appear only as "<redacted>", or "<unset>" when empty.
// Values holding spaces, '#', quotes or non-printable characters are
// written as Go quoted strings. Write errors are ignored.
func (c *Config) Print(w io.Writer) {
	var b strings.Builder
	for _, d := range sortedKeys() {
		v := d.format(c)
		switch {
		case d.secret && v == "":
			v = "<unset>"
		case d.secret:
			v = "<redacted>"
		case needsQuoting(v):
			v = strconv.Quote(v)
		}
		b.WriteString(d.name + "=" + v)
		if src := c.sources[d.name].String(); src != "" {
			b.WriteString(" # " + src)
		}
		b.WriteByte('\n')
	}
	io.WriteString(w, b.String())
}

func needsQuoting(s string) bool {
	for _, r := range s {
		if r == '#' || r == '"' || r == '\'' || r == '\\' || unicode.IsSpace(r) || !unicode.IsPrint(r) {
			return true
		}
	}
	return false
}

// MarkdownTable returns a Markdown table of every key, sorted, with its
// default and description, for the README.
func MarkdownTable() string {
	var b strings.Builder
	b.WriteString("| Key | Default | Description |\n|---|---|---|\n")
	for _, d := range sortedKeys() {
		def := d.defDoc
		if def == "" && d.def != "" {
			def = "`" + d.def + "`"
		}
		doc := d.doc
		if d.secret {
			doc += " Secret: never shown by `Print` or in errors."
		}
		b.WriteString("| `" + d.name + "` | " + markdownCell(def) + " | " + markdownCell(doc) + " |\n")
	}
	return b.String()
}

func markdownCell(s string) string {
	return strings.ReplaceAll(s, "|", `\|`)
}
