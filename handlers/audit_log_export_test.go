package handlers

import "testing"

// csvCell quotes the start of the cell and of each part after a separator that a spreadsheet
// could run, blanks before it included, and leaves everything else as it is.
func TestCSVCell(t *testing.T) {
	for _, tc := range []struct{ cell, want string }{
		{"", ""},
		{"plain name", "plain name"},
		{"2030-02-03T10:00:00Z", "2030-02-03T10:00:00Z"},
		{"a-b, c; d@e", "a-b, c; d@e"},
		{"=1+1", "'=1+1"},
		{"+1", "'+1"},
		{"-1", "'-1"},
		{"@SUM(A1)", "'@SUM(A1)"},
		{"a;=3+4;@ex.com", "a;'=3+4;'@ex.com"},
		{"a,-1", "a,'-1"},
		{"a\t+1", "a\t'+1"},
		{"\t=1", "'\t'=1"},
		{"\rx", "'\rx"},
		{"\tx", "'\tx"},
		{"line\n=1", "line\n'=1"},
		{"line\r\n@x", "line\r\n'@x"},
		{" =1", "' =1"},
		{"a;\u00a0\u200b=1", "a;'\u00a0\u200b=1"},
		{"＝1+1", "'＝1+1"},
		{"x,＠y", "x,'＠y"},
		{"café;－1", "café;'－1"},
		{"\xff;=1", "\xff;'=1"},
		{";;=", ";;'="},
		{"a; \t=1", "a; \t'=1"},
	} {
		if got := csvCell(tc.cell); got != tc.want {
			t.Errorf("csvCell(%q): got %q, want %q", tc.cell, got, tc.want)
		}
	}
}
