package server

import (
	"encoding/json"
	"fmt"
	"html/template"
	"net/http"
	"sort"
	"strings"
)

// apiDocs serves the OpenAPI document and a browsable page rendered from it on the server,
// so the page needs no script and no third-party assets.
type apiDocs struct {
	spec []byte
	page []byte
}

func newAPIDocs(spec []byte) (*apiDocs, error) {
	page, err := renderDocs(spec)
	if err != nil {
		return nil, fmt.Errorf("render api docs: %w", err)
	}
	return &apiDocs{spec: spec, page: page}, nil
}

func (d *apiDocs) serveSpec(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "public, max-age=300")
	_, _ = w.Write(d.spec)
}

func (d *apiDocs) servePage(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; frame-ancestors 'none'")
	_, _ = w.Write(d.page)
}

func (d *apiDocs) serveStyle(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/css; charset=utf-8")
	_, _ = w.Write([]byte(docsCSS))
}

type openAPIDoc struct {
	Info struct {
		Title       string `json:"title"`
		Version     string `json:"version"`
		Description string `json:"description"`
	} `json:"info"`
	Paths      map[string]map[string]operation `json:"paths"`
	Components struct {
		Schemas map[string]schema `json:"schemas"`
	} `json:"components"`
}

type operation struct {
	Summary     string      `json:"summary"`
	Description string      `json:"description"`
	OperationID string      `json:"operationId"`
	Tags        []string    `json:"tags"`
	Parameters  []parameter `json:"parameters"`
	RequestBody *struct {
		Content map[string]struct {
			Schema schema `json:"schema"`
		} `json:"content"`
	} `json:"requestBody"`
	Responses map[string]struct {
		Description string `json:"description"`
		Content     map[string]struct {
			Schema schema `json:"schema"`
		} `json:"content"`
	} `json:"responses"`
}

type parameter struct {
	Name        string `json:"name"`
	In          string `json:"in"`
	Required    bool   `json:"required"`
	Description string `json:"description"`
	Schema      schema `json:"schema"`
}

type schema struct {
	Ref         string            `json:"$ref"`
	Type        any               `json:"type"`
	Format      string            `json:"format"`
	Title       string            `json:"title"`
	Description string            `json:"description"`
	Properties  map[string]schema `json:"properties"`
	Items       *schema           `json:"items"`
	Minimum     any               `json:"minimum"`
	Maximum     any               `json:"maximum"`
	MaxLength   any               `json:"maxLength"`
	MinLength   any               `json:"minLength"`
	Pattern     string            `json:"pattern"`
	Enum        []any             `json:"enum"`
}

// TypeName is a short human description of a schema: a $ref's name or its type.
func (s schema) TypeName() string {
	if s.Ref != "" {
		return s.Ref[strings.LastIndex(s.Ref, "/")+1:]
	}
	t := fmt.Sprint(s.Type)
	if s.Type == nil {
		t = "object"
	}
	if s.Items != nil {
		return "array of " + s.Items.TypeName()
	}
	if s.Format != "" {
		t += " (" + s.Format + ")"
	}
	return t
}

// Rules lists a schema's constraints, as the API enforces them.
func (s schema) Rules() string {
	var r []string
	add := func(name string, v any) {
		if v != nil {
			r = append(r, fmt.Sprintf("%s %v", name, v))
		}
	}
	add("min", s.Minimum)
	add("max", s.Maximum)
	add("min length", s.MinLength)
	add("max length", s.MaxLength)
	if s.Pattern != "" {
		r = append(r, "pattern "+s.Pattern)
	}
	if len(s.Enum) > 0 {
		r = append(r, fmt.Sprintf("one of %v", s.Enum))
	}
	return strings.Join(r, ", ")
}

type docsOperation struct {
	Method, Path string
	Op           operation
	Request      string
	Response     string
}

type docsSchema struct {
	Name   string
	Schema schema
	Fields []docsField
}

type docsField struct {
	Name string
	S    schema
}

func renderDocs(spec []byte) ([]byte, error) {
	var doc openAPIDoc
	if err := json.Unmarshal(spec, &doc); err != nil {
		return nil, err
	}
	var ops []docsOperation
	for path, methods := range doc.Paths {
		for method, op := range methods {
			d := docsOperation{Method: strings.ToUpper(method), Path: path, Op: op}
			if op.RequestBody != nil {
				for _, c := range op.RequestBody.Content {
					d.Request = c.Schema.TypeName()
				}
			}
			if r, ok := op.Responses["200"]; ok {
				for _, c := range r.Content {
					d.Response = c.Schema.TypeName()
				}
			}
			ops = append(ops, d)
		}
	}
	sort.Slice(ops, func(i, j int) bool {
		if ops[i].Path != ops[j].Path {
			return ops[i].Path < ops[j].Path
		}
		return ops[i].Method < ops[j].Method
	})
	var schemas []docsSchema
	for name, s := range doc.Components.Schemas {
		ds := docsSchema{Name: name, Schema: s}
		for fname, fs := range s.Properties {
			ds.Fields = append(ds.Fields, docsField{Name: fname, S: fs})
		}
		sort.Slice(ds.Fields, func(i, j int) bool { return ds.Fields[i].Name < ds.Fields[j].Name })
		schemas = append(schemas, ds)
	}
	sort.Slice(schemas, func(i, j int) bool { return schemas[i].Name < schemas[j].Name })
	var b strings.Builder
	err := docsTemplate.Execute(&b, map[string]any{"Doc": doc, "Ops": ops, "Schemas": schemas})
	return []byte(b.String()), err
}

var docsTemplate = template.Must(template.New("docs").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Doc.Info.Title}} {{.Doc.Info.Version}}</title><link rel="stylesheet" href="/docs/style.css"></head>
<body><main>
<h1>{{.Doc.Info.Title}} <small>{{.Doc.Info.Version}}</small></h1>
<p class="intro">{{.Doc.Info.Description}}</p>
<p><a href="/api/v1/openapi.json">OpenAPI document (JSON)</a></p>
<nav><h2>Operations</h2><ul>{{range .Ops}}<li><a href="#{{.Op.OperationID}}-{{.Method}}"><code class="m {{.Method}}">{{.Method}}</code> {{.Path}}</a></li>{{end}}</ul></nav>
{{range .Ops}}<section id="{{.Op.OperationID}}-{{.Method}}">
<h3><code class="m {{.Method}}">{{.Method}}</code> <code>{{.Path}}</code></h3>
{{with .Op.Summary}}<p><strong>{{.}}</strong></p>{{end}}{{with .Op.Description}}<p>{{.}}</p>{{end}}
{{if .Op.Parameters}}<table><caption>Parameters</caption><tr><th>name</th><th>in</th><th>type</th><th>rules</th><th>description</th></tr>
{{range .Op.Parameters}}<tr><td><code>{{.Name}}</code>{{if .Required}} *{{end}}</td><td>{{.In}}</td><td>{{.Schema.TypeName}}</td><td>{{.Schema.Rules}}</td><td>{{.Description}}</td></tr>{{end}}</table>{{end}}
{{with .Request}}<p>Request body: <a href="#schema-{{.}}">{{.}}</a></p>{{end}}
{{with .Response}}<p>Response: <a href="#schema-{{.}}">{{.}}</a></p>{{end}}
</section>{{end}}
<h2>Schemas</h2>
{{range .Schemas}}<section id="schema-{{.Name}}"><h3>{{.Name}}</h3>{{with .Schema.Description}}<p>{{.}}</p>{{end}}
{{if .Fields}}<table><tr><th>field</th><th>type</th><th>rules</th><th>description</th></tr>
{{range .Fields}}<tr><td><code>{{.Name}}</code></td><td>{{.S.TypeName}}</td><td>{{.S.Rules}}</td><td>{{.S.Description}}</td></tr>{{end}}</table>{{end}}</section>{{end}}
</main></body></html>
`))

const docsCSS = `body{font:15px/1.5 system-ui,sans-serif;margin:0;color:#1d2329;background:#fafbfc}
main{max-width:70rem;margin:0 auto;padding:1rem 2rem}h1 small{color:#68737d;font-weight:normal}
.intro{white-space:pre-line}section{background:#fff;border:1px solid #e1e4e8;border-radius:6px;padding:.5rem 1rem;margin:1rem 0}
table{border-collapse:collapse;width:100%;margin:.5rem 0}th,td{text-align:left;border-bottom:1px solid #eaecef;padding:.25rem .5rem;vertical-align:top}
caption{text-align:left;font-weight:600}code{font-family:ui-monospace,monospace}
.m{display:inline-block;min-width:3.5rem;padding:0 .3rem;border-radius:3px;color:#fff;background:#6a737d;text-align:center}
.GET{background:#0969da}.POST{background:#1a7f37}.PATCH{background:#9a6700}.PUT{background:#8250df}.DELETE{background:#cf222e}
`
