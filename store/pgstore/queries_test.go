package pgstore

import (
	"reflect"
	"strings"
	"testing"
)

// TestQueriesComplete: every statement of the store is filled in, in the
// schema given, so none can be forgotten when one is added.
func TestQueriesComplete(t *testing.T) {
	q := reflect.ValueOf(newQueries("s_x"))
	for i := range q.NumField() {
		sql := q.Field(i).String()
		if sql == "" || strings.Contains(sql, "{schema}") || !strings.Contains(sql, `"s_x".`) {
			t.Errorf("query %s is not a statement in schema s_x: %q", q.Type().Field(i).Name, sql)
		}
	}
}
