package api

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"
	"testing/iotest"
)

func TestWithFormCredentials(t *testing.T) {
	cases := []struct{ name, in, want string }{
		{"empty", "", "password=p%26w&userId=u%40x"},
		{"kept byte for byte", "to=%2B6421&body=a+b%20c&x=", "to=%2B6421&body=a+b%20c&x=&password=p%26w&userId=u%40x"},
		{"caller's credentials dropped", "userId=evil&to=1&password=guess&us%65rId=e2", "to=1&password=p%26w&userId=u%40x"},
		{"empty pairs dropped", "&to=1&&", "to=1&password=p%26w&userId=u%40x"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := string(withFormCredentials([]byte(tc.in), "u@x", "p&w")); got != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
}

func TestWithJSONCredentials(t *testing.T) {
	const creds = `"userId":"u@x","password":"p\"w"`
	cases := []struct{ name, in, want string }{
		{"empty object", `{}`, `{` + creds + `}`},
		{"members kept byte for byte", `{"to": ["+6421", "6422"], "body":"h\u00e9 1.50", "n": 1.500e3}`,
			`{"to": ["+6421", "6422"],"body":"h\u00e9 1.50","n": 1.500e3,` + creds + `}`},
		{"whitespace around", " \n{ \"a\" : {\"userId\":1} }\n", `{"a" : {"userId":1},` + creds + `}`},
		{"caller's credentials dropped", `{"userId":"evil","a":1,"password":"guess"}`, `{"a":1,` + creds + `}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := withJSONCredentials([]byte(tc.in), "u@x", `p"w`)
			if err != nil {
				t.Fatalf("error: %v", err)
			}
			if string(got) != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
	for _, bad := range []string{``, `[1]`, `"s"`, `{"a":1`, `{"a":1} {}`, `{"a":}`, `{} x`} {
		if got, err := withJSONCredentials([]byte(bad), "u", "p"); err == nil {
			t.Errorf("withJSONCredentials(%q) = %s, want an error", bad, got)
		}
	}
}

// TestReplayBody reads part of a body, as a first attempt cut short by a
// 401 would, and checks that the replay holds all of it.
func TestReplayBody(t *testing.T) {
	const body = "0123456789abcdefghij"
	for _, firstRead := range []int{0, 5, len(body)} {
		b := &replayBody{src: iotest.OneByteReader(strings.NewReader(body)), closed: make(chan struct{})}
		if _, err := io.ReadFull(b, make([]byte, firstRead)); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() { b.Close() }) // the transport may close more than once
		}
		wg.Wait()
		again, err := b.again(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(again)
		if err != nil || string(got) != body {
			t.Errorf("after reading %d bytes, replay = %q, %v; want %q", firstRead, got, err, body)
		}
	}
}

func TestReplayBodyWaitsForTheFirstAttempt(t *testing.T) {
	b := &replayBody{src: bytes.NewReader(nil), closed: make(chan struct{})}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := b.again(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("again before Close with a canceled context: err = %v, want context.Canceled", err)
	}
}
