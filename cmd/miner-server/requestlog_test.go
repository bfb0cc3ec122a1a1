package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"strings"
	"testing"
	"time"

	hardnegv1 "github.com/hardneg/hardneg/gen/go/hardneg/v1"
	"github.com/hardneg/hardneg/internal/engine"
	"google.golang.org/grpc"
)

func TestRequestsAreLoggedAtDebugLevel(t *testing.T) {
	var buf bytes.Buffer
	cfg, err := parseConfig([]string{"-log-level=debug", "-log-format=json"}, func(string) string { return "" }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{log: cfg.newLogger(&buf)}
	req := &hardnegv1.MineRequest{Collection: "docs", Anchors: make([]*hardnegv1.Anchor, 3)}
	handler := func(context.Context, any) (any, error) {
		return nil, toStatus(discard, "m", engine.ErrCollectionNotFound)
	}
	s.unaryLog(context.Background(), req, &grpc.UnaryServerInfo{FullMethod: hardnegv1.MinerService_Mine_FullMethodName}, handler)
	var line map[string]any
	if err := json.Unmarshal(buf.Bytes(), &line); err != nil {
		t.Fatalf("log line %q: %v", buf.String(), err)
	}
	want := map[string]any{"level": "DEBUG", "msg": "request", "method": hardnegv1.MinerService_Mine_FullMethodName, "collection": "docs", "anchors": 3.0, "code": "NotFound"}
	for k, v := range want {
		if line[k] != v {
			t.Errorf("%s = %v, want %v (line %s)", k, line[k], v, buf.String())
		}
	}
	if d, ok := line["duration"].(float64); !ok || d < 0 {
		t.Errorf("duration = %v, want seconds as a number", line["duration"])
	}

	buf.Reset()
	s.unaryLog(context.Background(), &hardnegv1.GetCollectionRequest{Name: "c"}, &grpc.UnaryServerInfo{FullMethod: "/m"}, func(context.Context, any) (any, error) { return nil, nil })
	if !strings.Contains(buf.String(), `"collection":"c"`) || !strings.Contains(buf.String(), `"code":"OK"`) {
		t.Errorf("collection request logged as %s", buf.String())
	}

	buf.Reset()
	info := slogAtInfo(t, &buf)
	info.unaryLog(context.Background(), req, &grpc.UnaryServerInfo{FullMethod: "/m"}, handler)
	if buf.Len() != 0 {
		t.Errorf("logged at info level: %s", buf.String())
	}
}

func slogAtInfo(t *testing.T, w io.Writer) *Server {
	cfg, err := parseConfig([]string{"-log-format=json"}, func(string) string { return "" }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	return &Server{log: cfg.newLogger(w)}
}

func TestJSONLogsGiveDurationsInSeconds(t *testing.T) {
	var buf bytes.Buffer
	slogAtInfo(t, &buf).log.Info("recovered", "recovery", 1500*time.Millisecond)
	if !strings.Contains(buf.String(), `"recovery":1.5`) {
		t.Errorf("log line %s: want recovery 1.5 (seconds)", buf.String())
	}
}
