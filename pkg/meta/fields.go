package meta

import (
	"reflect"
	"strings"
)

// jsonKeys lists the config's JSON keys in file order.
var jsonKeys = func() []string {
	t := reflect.TypeOf(Config{})
	out := make([]string, 0, t.NumField())
	for i := 0; i < t.NumField(); i++ {
		if t.Field(i).IsExported() { // unexported fields are never serialised
			out = append(out, jsonName(t.Field(i)))
		}
	}
	return out
}()

func jsonName(f reflect.StructField) string {
	name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
	return name
}

func knownJSONKeys() map[string]bool {
	m := make(map[string]bool, len(jsonKeys))
	for _, k := range jsonKeys {
		m[k] = true
	}
	return m
}

// fieldByJSONKey returns a pointer to cfg's field with JSON key k.
func fieldByJSONKey(cfg *Config, k string) any {
	v := reflect.ValueOf(cfg).Elem()
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		if jsonName(t.Field(i)) == k {
			return v.Field(i).Addr().Interface()
		}
	}
	return nil
}
