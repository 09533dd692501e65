package server

import (
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"

	"imglish/app"
)

// jsonKeys lists the JSON keys encoding/json writes for struct type t:
// tag names (else field names) of exported fields, with the fields of
// untagged embedded structs promoted, "-" skipped.
func jsonKeys(t reflect.Type) []string {
	var keys []string
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		switch {
		case name == "-" || (!f.IsExported() && !f.Anonymous):
		case f.Anonymous && name == "" && f.Type.Kind() == reflect.Struct:
			keys = append(keys, jsonKeys(f.Type)...)
		case name == "":
			keys = append(keys, f.Name)
		default:
			keys = append(keys, name)
		}
	}
	slices.Sort(keys)
	return keys
}

// TestOpenAPISchemasMatchTypes: the closed schemas of the types the core
// hands to JSON have exactly the types' keys. An item's metadata is
// vstore.Meta embedded in app.Item, so a field added there shows up in the
// API by itself; this fails until openapi.json documents it (and a
// documented key the type lost fails too).
func TestOpenAPISchemasMatchTypes(t *testing.T) {
	doc, err := apiDoc()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		schema string
		typ    reflect.Type
	}{
		{"Item", reflect.TypeFor[app.Item]()},
		{"Filter", reflect.TypeFor[app.Filter]()},
		{"SearchHit", reflect.TypeFor[app.SearchHit]()},
		{"ModelInfo", reflect.TypeFor[app.ModelInfo]()},
		{"TextEntry", reflect.TypeFor[app.TextEntry]()},
	} {
		ref := doc.Components.Schemas[tc.schema]
		if ref == nil {
			t.Errorf("no schema %s", tc.schema)
			continue
		}
		doc := slices.Sorted(maps.Keys(ref.Value.Properties))
		if got := jsonKeys(tc.typ); !slices.Equal(got, doc) {
			t.Errorf("%s: %s has JSON keys %v, openapi.json documents %v", tc.schema, tc.typ, got, doc)
		}
	}
}
