package main

import (
	"os"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestREADMEDocumentsEveryKeyAndFlag keeps backend/README.md, the operator
// documentation, in step with the commands: every key of the serve
// configuration and every flag the commands define must appear in it.
func TestREADMEDocumentsEveryKeyAndFlag(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("../../README.md")
	require.NoError(t, err)
	readme := string(b)

	for _, key := range yamlKeys(reflect.TypeFor[serveConfig](), "") {
		if !strings.Contains(readme, "`"+key+"`") {
			t.Errorf("backend/README.md does not document the serve configuration key %s", key)
		}
	}

	flagPattern := regexp.MustCompile(`flags\.[A-Za-z0-9]+\("([a-z-]+)"`)
	for _, file := range []string{"main.go", "security.go", "token.go"} {
		src, err := os.ReadFile(file)
		require.NoError(t, err)
		for _, m := range flagPattern.FindAllStringSubmatch(string(src), -1) {
			if !strings.Contains(readme, "`--"+m[1]) {
				t.Errorf("backend/README.md does not document the flag --%s (%s)", m[1], file)
			}
		}
	}
}

// yamlKeys lists the keys of a YAML-decoded struct, nested ones joined with
// dots and list elements written as [].
func yamlKeys(t reflect.Type, prefix string) []string {
	var keys []string
	for field := range t.Fields() {
		name, _, _ := strings.Cut(field.Tag.Get("yaml"), ",")
		if name == "" || name == "-" {
			continue
		}
		key := prefix + name
		keys = append(keys, key)
		ft := field.Type
		switch {
		case ft.Kind() == reflect.Struct:
			keys = append(keys, yamlKeys(ft, key+".")...)
		case ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Struct:
			keys = append(keys, yamlKeys(ft.Elem(), key+"[].")...)
		}
	}
	return keys
}
