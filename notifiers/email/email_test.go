package email

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/mail"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/quotawatch/quotawatch/notifiers"
	"github.com/quotawatch/quotawatch/notifiers/notifiertest"
)

// The email tests run against mailpit, a real SMTP server, built once per
// test binary from the module that go.mod pins as a tool and started per
// test on loopback ports.

const (
	smtpUser = "alerts@example.com"
	// smtpPassword is a canary: it must appear in no error and no log line.
	smtpPassword = "pw-Canary-7f3e9b1d"
	sender       = "quotawatch <quotawatch@example.com>"
)

var recipients = []string{"oncall@example.com", "Ops Team <ops@example.com>", "boss@example.org"}

// shared holds what TestMain prepares for all tests.
var shared struct {
	dir      string // removed after the tests
	certFile string // self-signed certificate for 127.0.0.1 and localhost
	keyFile  string

	buildOnce sync.Once
	bin       string
	buildErr  error
	buildTime time.Duration
}

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "quotawatch-email-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "email tests:", err)
		os.Exit(1)
	}
	shared.dir = dir
	shared.certFile, shared.keyFile, err = writeCert(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, "email tests: generate TLS certificate:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// mailpitBinary builds mailpit on first use and returns its path. The build
// takes about a minute on a cold cache and is shared by every test of the
// binary.
func mailpitBinary(t *testing.T) string {
	t.Helper()
	shared.buildOnce.Do(func() {
		goBin, err := goCommand()
		if err != nil {
			shared.buildErr = err
			return
		}
		bin := filepath.Join(shared.dir, "mailpit")
		if runtime.GOOS == "windows" {
			bin += ".exe"
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		start := time.Now()
		// mailpit is pinned in the tools module (tools/go.mod), not in the
		// product's go.mod.
		tools, err := filepath.Abs(filepath.Join("..", "..", "tools"))
		if err != nil {
			shared.buildErr = err
			return
		}
		out, err := exec.CommandContext(ctx, goBin, "-C", tools, "build", "-o", bin, "github.com/axllent/mailpit").CombinedOutput()
		shared.buildTime = time.Since(start)
		if err != nil {
			shared.buildErr = fmt.Errorf("go build github.com/axllent/mailpit: %v\n%s", err, out)
			return
		}
		shared.bin = bin
		t.Logf("built mailpit in %s", shared.buildTime.Round(time.Millisecond))
	})
	if shared.buildErr != nil {
		t.Fatalf("the email tests need mailpit, a real SMTP server: %v", shared.buildErr)
	}
	return shared.bin
}

// goCommand finds the go command: on PATH, else in the toolchain that built
// this test.
func goCommand() (string, error) {
	if p, err := exec.LookPath("go"); err == nil {
		return p, nil
	}
	p := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(p); err == nil {
		return p, nil
	}
	return "", errors.New("the go command was not found on PATH or in GOROOT; " +
		"install Go to build github.com/axllent/mailpit for these tests")
}

// writeCert writes a self-signed ECDSA certificate for 127.0.0.1 and
// localhost that doubles as its own CA for ca_file.
func writeCert(dir string) (certFile, keyFile string, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", "", err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: "quotawatch test SMTP"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return "", "", err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return "", "", err
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		return "", "", err
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		return "", "", err
	}
	return certFile, keyFile, nil
}

// mailpit is one running server.
type mailpit struct {
	smtpPort int
	api      string
}

// tlsFlags serve STARTTLS with the test certificate.
func tlsFlags() []string {
	return []string{"--smtp-tls-cert", shared.certFile, "--smtp-tls-key", shared.keyFile}
}

// authFile writes a mailpit password file with the test credentials.
func authFile(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "smtp-auth")
	if err := os.WriteFile(p, []byte(smtpUser+":"+smtpPassword+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// startMailpit starts a server with extra flags on free loopback ports and
// stops it when the test ends.
func startMailpit(t *testing.T, extra ...string) *mailpit {
	t.Helper()
	bin := mailpitBinary(t)
	var lastErr error
	for range 3 { // a free port can be taken between probe and use
		mp, err := tryMailpit(t, bin, extra)
		if err == nil {
			return mp
		}
		lastErr = err
	}
	t.Fatalf("start mailpit: %v", lastErr)
	return nil
}

func tryMailpit(t *testing.T, bin string, extra []string) (*mailpit, error) {
	smtpPort, httpPort := freePort(t), freePort(t)
	args := append([]string{
		"--smtp", "127.0.0.1:" + strconv.Itoa(smtpPort),
		"--listen", "127.0.0.1:" + strconv.Itoa(httpPort),
		"--database", filepath.Join(t.TempDir(), "mailpit.db"),
		"--disable-version-check", "-q",
	}, extra...)
	cmd := exec.Command(bin, args...)
	cmd.Env = slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, "MP_") })
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	stop := func() {
		_ = cmd.Process.Kill()
		<-exited
	}

	mp := &mailpit{smtpPort: smtpPort, api: "http://127.0.0.1:" + strconv.Itoa(httpPort)}
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case <-exited:
			return nil, fmt.Errorf("mailpit exited: %s", out.String())
		default:
		}
		if mp.ready() {
			t.Cleanup(stop)
			return mp, nil
		}
		if time.Now().After(deadline) {
			stop()
			return nil, fmt.Errorf("mailpit not ready after 30s: %s", out.String())
		}
		time.Sleep(25 * time.Millisecond)
	}
}

func (mp *mailpit) ready() bool {
	resp, err := http.Get(mp.api + "/api/v1/messages")
	if err != nil {
		return false
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return false
	}
	c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(mp.smtpPort), time.Second)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

type address struct{ Name, Address string }

type storedMessage struct {
	ID        string
	MessageID string
	From      address
	To        []address
	Subject   string
	Date      time.Time
	Text      string
	HTML      string
	headers   map[string][]string
}

func (mp *mailpit) getJSON(t *testing.T, path string, v any) {
	t.Helper()
	resp, err := http.Get(mp.api + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("GET %s: %s: %s", path, resp.Status, b)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
}

// messages returns every stored message, newest first, with its headers.
func (mp *mailpit) messages(t *testing.T) []storedMessage {
	t.Helper()
	var list struct {
		Messages []struct{ ID string }
	}
	mp.getJSON(t, "/api/v1/messages", &list)
	var msgs []storedMessage
	for _, s := range list.Messages {
		var m storedMessage
		mp.getJSON(t, "/api/v1/message/"+s.ID, &m)
		mp.getJSON(t, "/api/v1/message/"+s.ID+"/headers", &m.headers)
		msgs = append(msgs, m)
	}
	return msgs
}

// only returns the single stored message.
func (mp *mailpit) only(t *testing.T) storedMessage {
	t.Helper()
	msgs := mp.messages(t)
	if len(msgs) != 1 {
		t.Fatalf("mailpit holds %d messages, want 1", len(msgs))
	}
	return msgs[0]
}

// logBuffer captures the notifier's log.
type logBuffer = notifiertest.Buffer

func newNotifier(t *testing.T, cfg *Config) (*Notifier, *logBuffer) {
	t.Helper()
	if err := cfg.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	logs := new(logBuffer)
	n, err := cfg.New(notifiers.Options{
		Name:      "oncall-mail",
		Logger:    slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		UserAgent: "quotawatch/test",
		Timeout:   5 * time.Second,
	})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return n.(*Notifier), logs
}

func baseConfig(mp *mailpit, tlsMode string) *Config {
	return &Config{
		Host: "127.0.0.1",
		Port: mp.smtpPort,
		TLS:  tlsMode,
		From: sender,
		To:   recipients,
	}
}

// criticalEvent is a firing critical alert: $5.00 left, threshold $10.00.
func criticalEvent() notifiers.Event {
	ev := notifiers.SampleEvent()
	ev.ID = "evt_01HZX3CRIT"
	ev.Severity = notifiers.SeverityCritical
	ev.Quota, ev.BalanceUSD = 2500000, 5
	ev.ThresholdQuota, ev.ThresholdUSD = 5000000, 10
	ev.Summary = "main: balance $5.00 is below the critical threshold $10.00"
	return ev
}

func assertNoPassword(t *testing.T, what, s string) {
	t.Helper()
	notifiertest.AssertNoSecrets(t, what, s, smtpPassword, "Canary-7f3e")
}

// assertDelivered checks the stored message for ev in full.
func assertDelivered(t *testing.T, mp *mailpit, ev notifiers.Event, sent time.Time) storedMessage {
	t.Helper()
	m := mp.only(t)
	if want := ev.Title(); m.Subject != want {
		t.Errorf("subject %q, want %q", m.Subject, want)
	}
	if m.From.Address != "quotawatch@example.com" || m.From.Name != "quotawatch" {
		t.Errorf("from %+v", m.From)
	}
	var to []string
	for _, a := range m.To {
		to = append(to, a.Address)
	}
	slices.Sort(to)
	if want := []string{"boss@example.org", "oncall@example.com", "ops@example.com"}; !slices.Equal(to, want) {
		t.Errorf("recipients %q, want %q", to, want)
	}
	for _, want := range []string{ev.Title(), ev.Summary, "Balance:   " + ev.Balance(), "Threshold: " + ev.Threshold(), "Used:      $160.00", "Reason:    new alert", ev.ID} {
		if !strings.Contains(m.Text, want) {
			t.Errorf("text part lacks %q:\n%s", want, m.Text)
		}
	}
	for _, want := range []string{"<html>", ev.Summary, ev.Balance(), ev.Threshold(), ev.ID} {
		if !strings.Contains(m.HTML, want) {
			t.Errorf("HTML part lacks %q:\n%s", want, m.HTML)
		}
	}
	if want := "quotawatch." + ev.ID + ".oncall-mail@example.com"; m.MessageID != want {
		t.Errorf("Message-ID %q, want %q", m.MessageID, want)
	}
	if h := m.headers["Message-Id"]; len(h) != 1 || h[0] != "<"+m.MessageID+">" {
		t.Errorf("Message-ID header %q", h)
	}
	dates := m.headers["Date"]
	if len(dates) != 1 {
		t.Fatalf("Date headers %q, want one", dates)
	}
	d, err := mail.ParseDate(dates[0])
	if err != nil {
		t.Errorf("Date header %q: %v", dates[0], err)
	} else if d.Before(sent.Add(-2*time.Second)) || d.After(time.Now().Add(2*time.Second)) {
		t.Errorf("Date header %q is not the time of sending (%s)", dates[0], sent)
	}
	if got := m.headers["Auto-Submitted"]; len(got) != 1 || got[0] != "auto-generated" {
		t.Errorf("Auto-Submitted %q", got)
	}
	return m
}

func TestPlainSMTP(t *testing.T) {
	t.Parallel()
	mp := startMailpit(t)
	n, logs := newNotifier(t, baseConfig(mp, TLSNone))
	ev := criticalEvent()
	sent := time.Now()
	if err := n.Notify(t.Context(), ev); err != nil {
		t.Fatalf("Notify: %v", err)
	}
	m := assertDelivered(t, mp, ev, sent)
	if got, want := m.Subject, "[CRITICAL] main: balance $5.00 below $10.00"; got != want {
		t.Errorf("subject %q, want %q", got, want)
	}
	if got := m.headers["Importance"]; len(got) != 1 || !strings.EqualFold(got[0], "high") {
		t.Errorf("Importance %q, want High for a critical alert", got)
	}
	if !strings.Contains(logs.String(), "email sent") {
		t.Errorf("no debug log line for the delivery: %s", logs.String())
	}
}

func TestStartTLSWithCAFile(t *testing.T) {
	t.Parallel()
	mp := startMailpit(t, append(tlsFlags(), "--smtp-require-starttls")...)

	t.Run("trusted through ca_file", func(t *testing.T) {
		cfg := baseConfig(mp, "") // starttls is the default
		cfg.CAFile = shared.certFile
		n, _ := newNotifier(t, cfg)
		ev := criticalEvent()
		sent := time.Now()
		if err := n.Notify(t.Context(), ev); err != nil {
			t.Fatalf("Notify: %v", err)
		}
		assertDelivered(t, mp, ev, sent)
	})

	t.Run("untrusted certificate is permanent", func(t *testing.T) {
		n, _ := newNotifier(t, baseConfig(mp, TLSStartTLS))
		err := n.Notify(t.Context(), criticalEvent())
		if err == nil || !notifiers.IsPermanent(err) || !strings.Contains(err.Error(), "ca_file") {
			t.Errorf("err = %v, want a permanent error pointing at ca_file", err)
		}
	})

	t.Run("plain SMTP refused by the server is permanent", func(t *testing.T) {
		n, _ := newNotifier(t, baseConfig(mp, TLSNone))
		err := n.Notify(t.Context(), criticalEvent())
		if err == nil || !notifiers.IsPermanent(err) || !strings.Contains(err.Error(), "530") {
			t.Errorf("err = %v, want a permanent 530 rejection", err)
		}
	})
}

func TestImplicitTLS(t *testing.T) {
	t.Parallel()
	mp := startMailpit(t, append(tlsFlags(), "--smtp-require-tls")...)
	cfg := baseConfig(mp, TLSImplicit)
	cfg.CAFile = shared.certFile
	n, _ := newNotifier(t, cfg)
	ev := criticalEvent()
	sent := time.Now()
	if err := n.Notify(t.Context(), ev); err != nil {
		t.Fatalf("Notify: %v", err)
	}
	assertDelivered(t, mp, ev, sent)
}

func TestAuthentication(t *testing.T) {
	t.Parallel()
	mp := startMailpit(t, append(tlsFlags(), "--smtp-auth-file", authFile(t))...)

	authConfig := func() *Config {
		cfg := baseConfig(mp, TLSStartTLS)
		cfg.CAFile = shared.certFile
		cfg.Username = smtpUser
		return cfg
	}

	t.Run("password", func(t *testing.T) {
		cfg := authConfig()
		cfg.Password = smtpPassword
		n, logs := newNotifier(t, cfg)
		ev := criticalEvent()
		sent := time.Now()
		if err := n.Notify(t.Context(), ev); err != nil {
			assertNoPassword(t, "error", err.Error())
			t.Fatalf("Notify: %v", err)
		}
		// mailpit requires authentication with an auth file (the subtest
		// "no credentials" shows it), so delivery proves the login worked.
		// It records the user only for LOGIN, not for PLAIN.
		assertDelivered(t, mp, ev, sent)
		assertNoPassword(t, "log", logs.String())
	})

	t.Run("password_file", func(t *testing.T) {
		p := filepath.Join(t.TempDir(), "password")
		if err := os.WriteFile(p, []byte(smtpPassword+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		cfg := authConfig()
		cfg.PasswordFile = p
		n, _ := newNotifier(t, cfg)
		ev := criticalEvent()
		ev.ID = "evt_password_file"
		if err := n.Notify(t.Context(), ev); err != nil {
			t.Fatalf("Notify: %v", err)
		}
	})

	t.Run("wrong password is permanent", func(t *testing.T) {
		cfg := authConfig()
		cfg.Password = smtpPassword + "-wrong"
		n, logs := newNotifier(t, cfg)
		err := n.Notify(t.Context(), criticalEvent())
		if err == nil || !notifiers.IsPermanent(err) || !strings.Contains(err.Error(), "authentication failed") {
			t.Fatalf("err = %v, want a permanent authentication failure", err)
		}
		assertNoPassword(t, "error", err.Error())
		assertNoPassword(t, "log", logs.String())
	})

	t.Run("no credentials is permanent", func(t *testing.T) {
		cfg := baseConfig(mp, TLSStartTLS)
		cfg.CAFile = shared.certFile
		n, _ := newNotifier(t, cfg)
		err := n.Notify(t.Context(), criticalEvent())
		if err == nil || !notifiers.IsPermanent(err) {
			t.Errorf("err = %v, want a permanent rejection", err)
		}
	})
}

func TestInsecureAuthOnLoopback(t *testing.T) {
	t.Parallel()
	mp := startMailpit(t, "--smtp-auth-file", authFile(t), "--smtp-auth-allow-insecure")
	cfg := baseConfig(mp, TLSNone)
	cfg.Username, cfg.Password = smtpUser, smtpPassword
	n, _ := newNotifier(t, cfg)
	if err := n.Notify(t.Context(), criticalEvent()); err != nil {
		assertNoPassword(t, "error", err.Error())
		t.Fatalf("Notify: %v", err)
	}
	mp.only(t)

	cfg.Password = "wrong"
	n, _ = newNotifier(t, cfg)
	if err := n.Notify(t.Context(), criticalEvent()); err == nil || !notifiers.IsPermanent(err) {
		t.Errorf("wrong password: err = %v, want a permanent authentication failure", err)
	}
}

func TestMessageVariants(t *testing.T) {
	t.Parallel()
	mp := startMailpit(t)

	resolved := notifiers.SampleEvent()
	resolved.ID = "evt_resolved"
	resolved.Status, resolved.Reason = notifiers.StatusResolved, notifiers.ReasonResolved
	resolved.Quota = 40000000
	resolved.Summary = "main: balance $80.00 is back above the warning threshold $50.00"

	test := notifiers.SampleEvent()
	test.ID = "evt_test"
	test.Kind, test.Reason = notifiers.KindTest, notifiers.ReasonTest

	poll := notifiers.SampleEvent()
	poll.ID = "evt_poll"
	poll.Kind, poll.Severity = notifiers.KindPoll, notifiers.SeverityCritical
	poll.Error = `HTTP 401: <script>alert("x")</script> & bad key`
	poll.Summary = "main: polling fails: " + poll.Error

	n, _ := newNotifier(t, baseConfig(mp, TLSNone))
	for _, ev := range []notifiers.Event{resolved, test, poll} {
		if err := n.Notify(t.Context(), ev); err != nil {
			t.Fatalf("Notify %s: %v", ev.ID, err)
		}
	}
	byID := map[string]storedMessage{}
	for _, m := range mp.messages(t) {
		byID[m.headers["X-Quotawatch-Event-Id"][0]] = m
	}

	if m := byID["evt_resolved"]; m.Subject != "[RESOLVED WARNING] main: balance $80.00 back above $50.00" {
		t.Errorf("resolved subject %q", m.Subject)
	}
	if m := byID["evt_test"]; !strings.HasPrefix(m.Subject, "[TEST WARNING] main: ") ||
		!strings.Contains(m.Text, "test notification") || !strings.Contains(m.HTML, "test notification") {
		t.Errorf("test event not clearly marked: subject %q\n%s", m.Subject, m.Text)
	}
	m := byID["evt_poll"]
	if m.Subject != "[CRITICAL] main: polling fails" {
		t.Errorf("poll subject %q", m.Subject)
	}
	if strings.Contains(m.HTML, "<script>") {
		t.Errorf("HTML part does not escape the gateway's message:\n%s", m.HTML)
	}
	if !strings.Contains(m.HTML, "&lt;script&gt;") {
		t.Errorf("HTML part lacks the escaped error:\n%s", m.HTML)
	}
	if !strings.Contains(m.Text, poll.Error) {
		t.Errorf("text part lacks the error verbatim:\n%s", m.Text)
	}
}

func TestTemplates(t *testing.T) {
	t.Parallel()
	mp := startMailpit(t)
	cfg := baseConfig(mp, TLSNone)
	cfg.Subject = "quota {{.Severity}}:\n{{.Account}} at {{.Balance}}"
	cfg.Template = "Top up {{.Account}} <now>: {{.Balance}} left."
	n, _ := newNotifier(t, cfg)
	if err := n.Notify(t.Context(), criticalEvent()); err != nil {
		t.Fatal(err)
	}
	m := mp.only(t)
	if want := "quota critical: main at $5.00"; m.Subject != want {
		t.Errorf("subject %q, want %q", m.Subject, want)
	}
	if want := "Top up main <now>: $5.00 left."; strings.TrimSpace(m.Text) != want {
		t.Errorf("text %q, want %q", m.Text, want)
	}
	if !strings.Contains(m.HTML, "Top up main &lt;now&gt;: $5.00 left.") {
		t.Errorf("HTML part lacks the escaped template output:\n%s", m.HTML)
	}
}

func TestRejections(t *testing.T) {
	t.Parallel()

	t.Run("5xx recipient is permanent", func(t *testing.T) {
		t.Parallel()
		mp := startMailpit(t, "--smtp-allowed-recipients", `@example\.com$`)
		n, _ := newNotifier(t, baseConfig(mp, TLSNone)) // boss@example.org is refused
		err := n.Notify(t.Context(), criticalEvent())
		if err == nil || !notifiers.IsPermanent(err) || !strings.Contains(err.Error(), "550") {
			t.Errorf("err = %v, want a permanent 550 rejection", err)
		}
	})

	t.Run("4xx recipient is retryable", func(t *testing.T) {
		t.Parallel()
		mp := startMailpit(t, "--chaos-triggers", "Recipient:451:100")
		n, _ := newNotifier(t, baseConfig(mp, TLSNone))
		err := n.Notify(t.Context(), criticalEvent())
		if err == nil || notifiers.IsPermanent(err) || !strings.Contains(err.Error(), "451") {
			t.Errorf("err = %v, want a retryable 451 deferral", err)
		}
	})

	t.Run("starttls against a server without it is permanent", func(t *testing.T) {
		t.Parallel()
		mp := startMailpit(t)
		n, _ := newNotifier(t, baseConfig(mp, TLSStartTLS))
		err := n.Notify(t.Context(), criticalEvent())
		if err == nil || !notifiers.IsPermanent(err) || !strings.Contains(err.Error(), "STARTTLS") {
			t.Errorf("err = %v, want a permanent missing-STARTTLS error", err)
		}
	})

	t.Run("implicit TLS against a plain port is permanent", func(t *testing.T) {
		t.Parallel()
		mp := startMailpit(t)
		n, _ := newNotifier(t, baseConfig(mp, TLSImplicit))
		err := n.Notify(t.Context(), criticalEvent())
		if err == nil || !notifiers.IsPermanent(err) || !strings.Contains(err.Error(), "TLS") {
			t.Errorf("err = %v, want a permanent TLS error", err)
		}
	})
}

// TestClosedPort is not parallel, so that it runs before the parallel tests
// start mailpit instances that might take the probed port.
func TestClosedPort(t *testing.T) {
	cfg := &Config{Host: "127.0.0.1", Port: freePort(t), TLS: TLSNone, From: sender, To: recipients,
		Username: smtpUser, Password: smtpPassword}
	n, logs := newNotifier(t, cfg)
	err := n.Notify(t.Context(), criticalEvent())
	if err == nil || notifiers.IsPermanent(err) || !strings.Contains(err.Error(), "refused") {
		t.Fatalf("err = %v, want a retryable connection failure", err)
	}
	assertNoPassword(t, "error", err.Error())
	assertNoPassword(t, "log", logs.String())
}

func TestConnectionFailures(t *testing.T) {
	t.Parallel()

	// A server that accepts connections but never greets.
	silent := func(t *testing.T) int {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		var mu sync.Mutex
		var conns []net.Conn
		wg.Go(func() {
			for {
				c, err := l.Accept()
				if err != nil {
					return
				}
				mu.Lock()
				conns = append(conns, c)
				mu.Unlock()
			}
		})
		t.Cleanup(func() {
			l.Close()
			mu.Lock()
			for _, c := range conns {
				c.Close()
			}
			mu.Unlock()
			wg.Wait()
		})
		return l.Addr().(*net.TCPAddr).Port
	}

	t.Run("timeout is retryable", func(t *testing.T) {
		cfg := &Config{Host: "127.0.0.1", Port: silent(t), TLS: TLSNone, From: sender, To: recipients,
			Timeout: 200 * time.Millisecond}
		n, _ := newNotifier(t, cfg)
		start := time.Now()
		err := n.Notify(t.Context(), criticalEvent())
		if err == nil || notifiers.IsPermanent(err) || !strings.Contains(err.Error(), "timed out") {
			t.Errorf("err = %v, want a retryable timeout", err)
		}
		if d := time.Since(start); d > 3*time.Second {
			t.Errorf("Notify took %s despite a 200ms timeout", d)
		}
	})

	t.Run("cancellation aborts the conversation", func(t *testing.T) {
		cfg := &Config{Host: "127.0.0.1", Port: silent(t), TLS: TLSNone, From: sender, To: recipients,
			Timeout: time.Minute}
		n, _ := newNotifier(t, cfg)
		ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
		defer cancel()
		start := time.Now()
		err := n.Notify(ctx, criticalEvent())
		if err == nil || notifiers.IsPermanent(err) || !strings.Contains(err.Error(), "timed out") {
			t.Errorf("err = %v, want a retryable timeout", err)
		}
		if d := time.Since(start); d > 3*time.Second {
			t.Errorf("Notify took %s after its context ended", d)
		}
	})
}

func TestValidate(t *testing.T) {
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "not.pem")
	if err := os.WriteFile(notPEM, []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	valid := func(mod func(*Config)) Config {
		c := Config{Host: "smtp.example.com", From: "quotawatch@example.com", To: []string{"oncall@example.com"}}
		if mod != nil {
			mod(&c)
		}
		return c
	}
	for _, tc := range []struct {
		name     string
		cfg      Config
		want     string // error prefix; "" means valid
		wantPort int
	}{
		{"defaults", valid(nil), "", 587},
		{"implicit tls", valid(func(c *Config) { c.TLS = "tls" }), "", 465},
		{"none", valid(func(c *Config) { c.TLS = "none" }), "", 25},
		{"explicit port", valid(func(c *Config) { c.Port = 2525 }), "", 2525},
		{"auth", valid(func(c *Config) { c.Username, c.Password = "u", "p" }), "", 587},
		{"none with auth on loopback", valid(func(c *Config) { c.Host, c.TLS, c.Username, c.Password = "localhost", "none", "u", "p" }), "", 25},
		{"ca_file", valid(func(c *Config) { c.CAFile = shared.certFile }), "", 587},
		{"ipv6 loopback with auth", valid(func(c *Config) { c.Host, c.TLS, c.Username, c.Password = "[::1]", "none", "u", "p" }), "", 25},
		{"no host", valid(func(c *Config) { c.Host = "" }), "host: required", 0},
		{"host url", valid(func(c *Config) { c.Host = "smtp://smtp.example.com" }), "host: ", 0},
		{"port in host", valid(func(c *Config) { c.Host = "127.0.0.1:18925" }), "host: \"127.0.0.1:18925\" has a port in it; give the port in port:", 0},
		{"port in host name", valid(func(c *Config) { c.Host = "smtp.example.com:587" }), "host: ", 0},
		{"port in ipv6 host", valid(func(c *Config) { c.Host = "[::1]:25" }), "host: ", 0},
		{"ipv6 host", valid(func(c *Config) { c.Host, c.TLS = "fe80::1", "tls" }), "", 465},
		{"bad tls", valid(func(c *Config) { c.TLS = "ssl" }), "tls: unknown mode", 0},
		{"bad port", valid(func(c *Config) { c.Port = 70000 }), "port: ", 0},
		{"none with auth remote", valid(func(c *Config) { c.TLS, c.Username, c.Password = "none", "u", "p" }), "tls: none would send the password", 0},
		{"password without user", valid(func(c *Config) { c.Password = "p" }), "password: set only together with username", 0},
		{"password_file without user", valid(func(c *Config) { c.PasswordFile = "/x" }), "password_file: set only together", 0},
		{"user without password", valid(func(c *Config) { c.Username = "u" }), "password: required", 0},
		{"both passwords", valid(func(c *Config) { c.Username, c.Password, c.PasswordFile = "u", "p", "/x" }), "password: set either", 0},
		{"no from", valid(func(c *Config) { c.From = "" }), "from: required", 0},
		{"bad from", valid(func(c *Config) { c.From = "not an address" }), "from: invalid address", 0},
		{"no to", valid(func(c *Config) { c.To = nil }), "to: at least one", 0},
		{"bad to", valid(func(c *Config) { c.To = []string{"a@example.com", "nope"} }), "to[1]: invalid address", 0},
		{"missing ca_file", valid(func(c *Config) { c.CAFile = filepath.Join(dir, "missing.pem") }), "ca_file: ", 0},
		{"ca_file without PEM", valid(func(c *Config) { c.CAFile = notPEM }), "ca_file: no PEM certificate", 0},
		{"ca_file with none", valid(func(c *Config) { c.TLS, c.CAFile = "none", shared.certFile }), "ca_file: not used", 0},
		{"bad subject", valid(func(c *Config) { c.Subject = "{{.Nope}}" }), "subject: ", 0},
		{"bad template", valid(func(c *Config) { c.Template = "{{if}}" }), "template: ", 0},
		{"negative timeout", valid(func(c *Config) { c.Timeout = -time.Second }), "timeout: ", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := validateAndCheckFiles(&tc.cfg)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("Validate: %v, want nil", err)
			case tc.want != "" && (err == nil || !strings.HasPrefix(err.Error(), tc.want)):
				t.Fatalf("Validate: %v, want prefix %q", err, tc.want)
			}
			if s, _ := tc.cfg.settings(); tc.wantPort != 0 && s.port != tc.wantPort {
				t.Errorf("port %d, want %d", s.port, tc.wantPort)
			}
			if err != nil && strings.Contains(err.Error(), `"p"`) {
				t.Errorf("error repeats the password: %v", err)
			}
		})
	}
}

func TestIPv6Address(t *testing.T) {
	cfg := &Config{Host: "[::1]", Port: 2525, TLS: TLSNone, From: "q@example.com", To: []string{"o@example.com"}}
	n, _ := newNotifier(t, cfg)
	if n.host != "::1" {
		t.Errorf("host %q, want ::1", n.host)
	}
}

func TestPasswordFileErrors(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(empty, []byte("\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ file, want string }{
		{filepath.Join(dir, "missing"), "password_file: "},
		{empty, "password_file: " + empty + " is empty"},
	} {
		cfg := &Config{Host: "smtp.example.com", From: "q@example.com", To: []string{"o@example.com"},
			Username: "u", PasswordFile: tc.file}
		if _, err := cfg.New(notifiers.Options{}); err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("New with password_file %s: %v, want prefix %q", tc.file, err, tc.want)
		}
	}
}

func TestMessageID(t *testing.T) {
	n := &Notifier{name: "oncall-mail", domain: "example.com"}
	ev := criticalEvent()
	if a, b := n.messageID(ev), n.messageID(ev); a != b || a != "quotawatch.evt_01HZX3CRIT.oncall-mail@example.com" {
		t.Errorf("Message-ID %q then %q, want a stable ID from the event", a, b)
	}
	ev.ID = "evt <odd>@id"
	if got := n.messageID(ev); got != "quotawatch.evtoddid.oncall-mail@example.com" {
		t.Errorf("Message-ID %q keeps unsafe characters", got)
	}
	ev.ID = ""
	if a, b := n.messageID(ev), n.messageID(ev); a == b {
		t.Errorf("Message-ID %q repeats for events without an ID", a)
	}
}

func TestTidySendError(t *testing.T) {
	in := `sending SMTP RCPT TO command: 451 "busy", 451 "busy", 451 "busy", affected recipient(s): <a@example.com>, <b@example.com>, affected message ID: <x@example.com>`
	want := `sending SMTP RCPT TO command: 451 "busy", affected recipient(s): <a@example.com>, <b@example.com>`
	if got := tidySendError(in); got != want {
		t.Errorf("tidySendError =\n%s\nwant\n%s", got, want)
	}
}

// TestCriticalPriorityHeaders: a critical alert is marked with Importance and
// X-Priority only. X-MSMail-Priority without X-MimeOLE costs a SpamAssassin
// point (MISSING_MIMEOLE).
func TestCriticalPriorityHeaders(t *testing.T) {
	n := &Notifier{name: "oncall-mail", domain: "example.com", from: sender, to: recipients}
	m, err := n.message(criticalEvent())
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	if _, err := m.WriteTo(&b); err != nil {
		t.Fatal(err)
	}
	raw := b.String()
	head, _, _ := strings.Cut(raw, "\r\n\r\n")
	for _, want := range []string{"importance: high", "x-priority: 1"} {
		if !strings.Contains(strings.ToLower(head), want) {
			t.Errorf("headers lack %q:\n%s", want, head)
		}
	}
	for _, bad := range []string{"X-MSMail-Priority", "X-MimeOLE"} {
		if strings.Contains(head, bad) {
			t.Errorf("headers carry %s:\n%s", bad, head)
		}
	}
}

// validateAndCheckFiles checks cfg as the config loader does.
func validateAndCheckFiles(cfg *Config) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	return cfg.CheckFiles()
}

// TestValidateIsPure: Validate neither changes the Config nor reads its
// files; CheckFiles reads them.
func TestValidateIsPure(t *testing.T) {
	cfg := Config{Host: "smtp.example.com", Username: "u", PasswordFile: filepath.Join(t.TempDir(), "missing"),
		From: "q@example.com", To: []string{"Ops <o@example.com>"}, Subject: "{{.Account}}"}
	before := fmt.Sprintf("%#v", cfg)
	if err := cfg.Validate(); err != nil {
		t.Fatalf("Validate read password_file: %v", err)
	}
	if after := fmt.Sprintf("%#v", cfg); after != before {
		t.Errorf("Validate changed the Config:\n%s\n%s", before, after)
	}
	if err := cfg.CheckFiles(); err == nil || !strings.HasPrefix(err.Error(), "password_file: ") {
		t.Errorf("CheckFiles = %v, want a password_file error", err)
	}
}

// TestFilesMustBeSmallRegularFiles: password_file and ca_file are read with
// notifiers.ReadFile, so a named pipe or /dev/zero is a quick config error.
func TestFilesMustBeSmallRegularFiles(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	bom := filepath.Join(dir, "bom")
	os.WriteFile(bom, []byte("\ufeffs3cret-pass\n"), 0o600)
	for _, tc := range []struct {
		name string
		cfg  Config
		want string
	}{
		{"password_file pipe", Config{Username: "u", PasswordFile: fifo}, "password_file: " + fifo + " is not a regular file (a named pipe)"},
		{"password_file device", Config{Username: "u", PasswordFile: "/dev/zero"}, "password_file: /dev/zero is not a regular file (a device)"},
		{"ca_file pipe", Config{CAFile: fifo}, "ca_file: " + fifo + " is not a regular file (a named pipe)"},
		{"ca_file device", Config{CAFile: "/dev/zero"}, "ca_file: /dev/zero is not a regular file (a device)"},
		{"password_file with BOM", Config{Username: "u", PasswordFile: bom}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.cfg
			cfg.Host, cfg.From, cfg.To = "smtp.example.com", "q@example.com", []string{"o@example.com"}
			done := make(chan error, 1)
			go func() { done <- validateAndCheckFiles(&cfg) }()
			select {
			case err := <-done:
				if tc.want == "" {
					password, _, _ := cfg.readFiles()
					if err != nil || password != "s3cret-pass" {
						t.Errorf("Validate = %v, password %q", err, password)
					}
					return
				}
				if err == nil || err.Error() != tc.want {
					t.Errorf("Validate = %v, want %q", err, tc.want)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("Validate hangs")
			}
		})
	}
}

// QA finding 5: a subject or body template that fails on real data does
// not lose the alert: the default layout goes out, with a note, and an
// ERROR log names the template and the error.
func TestFailingTemplatesFallBackToTheDefaultLayout(t *testing.T) {
	const failing = "{{slice .User.Username 0 3}}"
	ev := criticalEvent()
	ev.User.Username = "ab"
	for _, tc := range []struct{ name, subject, body string }{
		{"body", "", failing},
		{"subject", failing, "{{.Account}} custom"},
		{"both", failing, failing},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n, logs := newNotifier(t, &Config{Host: "localhost", TLS: TLSNone, From: "qw@example.com", To: []string{"a@example.com"},
				Subject: tc.subject, Template: tc.body})
			subject, _ := n.subjectLine(ev)
			text, html, err := n.bodies(ev, tc.subject != "")
			if err != nil {
				t.Fatal(err)
			}
			if tc.subject != "" && subject != ev.Title() {
				t.Errorf("subject %q, want the default %q", subject, ev.Title())
			}
			if !strings.Contains(text, notifiers.TemplateFailedNote) || !strings.Contains(html, "template failed") {
				t.Errorf("no note:\n%s\n%s", text, html)
			}
			if tc.body == failing && !strings.Contains(text, ev.Summary) {
				t.Errorf("text part is not the default layout:\n%s", text)
			}
			if l := logs.String(); !strings.Contains(l, "level=ERROR") || !strings.Contains(l, "index out of range") {
				t.Errorf("log: %s", l)
			}
		})
	}
}
