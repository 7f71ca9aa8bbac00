package webhook

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/quotawatch/quotawatch/internal/httpx"
	"github.com/quotawatch/quotawatch/notifiers"
)

// Config is the webhook notifier's section of the config file.
type Config struct {
	// URL receives the POST. It is treated as a secret: it never appears in
	// an error or a log line.
	URL string `yaml:"url"`
	// Secret, when set, signs every request per Standard Webhooks. A secret
	// of the form whsec_<base64> uses the decoded bytes as the key; any other
	// secret is used as raw bytes, which SPEC §5 allows but the Standard
	// Webhooks libraries do not: Warnings flags it. NewSecret makes one.
	Secret string `yaml:"secret"`
	// Headers are extra request headers, such as an Authorization header the
	// receiver requires. They cannot replace Content-Type, the webhook-*
	// signature headers, Content-Length, Host or Transfer-Encoding; a
	// User-Agent here replaces the program's.
	Headers map[string]string `yaml:"headers"`
	// Timeout bounds one delivery attempt; zero means the program's default.
	Timeout time.Duration `yaml:"timeout"`
}

var _ notifiers.Warner = (*Config)(nil)

// secretPrefix marks a Standard Webhooks secret whose remainder is base64.
const secretPrefix = "whsec_"

// Validate checks the URL (https, or plain http to a loopback host), the
// secret's encoding, the header names and values, and the timeout. Its
// errors start with the key and never repeat the URL, the secret or a header
// value.
func (c *Config) Validate() error {
	if err := notifiers.CheckURL("url", c.URL); err != nil {
		return err
	}
	if _, err := signingKey(c.Secret); err != nil {
		return err
	}
	if err := checkHeaders(c.Headers); err != nil {
		return err
	}
	if c.Timeout < 0 {
		return errors.New("timeout: must not be negative")
	}
	return nil
}

// New builds the webhook notifier. Options.Timeout applies unless the
// config sets its own timeout.
func (c *Config) New(o notifiers.Options) (notifiers.Notifier, error) {
	key, err := signingKey(c.Secret)
	if err != nil {
		return nil, err
	}
	if c.Timeout > 0 {
		o.Timeout = c.Timeout
	}
	h := make(http.Header, len(c.Headers))
	for k, v := range c.Headers {
		h.Set(k, v)
	}
	if o.UserAgent != "" && h.Get("User-Agent") == "" {
		h.Set("User-Agent", o.UserAgent)
	}
	h.Set("Content-Type", "application/json")

	return &Notifier{
		url:     c.URL,
		key:     key,
		headers: h,
		client:  o.HTTPClient(),
		secrets: secretsOf(c),
		now:     time.Now,
	}, nil
}

// Key sizes the Standard Webhooks specification asks of a secret: whsec_
// followed by the base64 of 24 to 64 random bytes.
const (
	minKeyBytes    = 24
	maxKeyBytes    = 64
	secretKeyBytes = 32 // what NewSecret generates
)

// NewSecret returns a fresh Standard Webhooks secret: whsec_ and the
// standard base64 of 32 bytes from crypto/rand.
func NewSecret() string {
	key := make([]byte, secretKeyBytes)
	rand.Read(key) // never fails: since Go 1.24 a broken source crashes the program
	return secretPrefix + base64.StdEncoding.EncodeToString(key)
}

// Warnings flags a secret that quotawatch signs with but that a receiver
// using an official Standard Webhooks library cannot verify as is: a raw
// secret, which those libraries refuse or, when it happens to be valid
// base64, silently decode into a different key; a whsec_ secret whose base64
// lacks its padding, which they refuse; and a key shorter than the 24 bytes
// the specification asks for (a raw secret too), or longer than its 64.
func (c *Config) Warnings() []string {
	if c.Secret == "" {
		return nil
	}
	const fix = "; generate one with `quotawatch secret`"
	var w []string
	rest, ok := strings.CutPrefix(c.Secret, secretPrefix)
	if !ok {
		w = append(w, "secret: not a Standard Webhooks secret (whsec_ and base64): quotawatch signs with its raw bytes, "+
			"but the official Standard Webhooks libraries refuse it or decode it into a different key"+fix)
	} else if _, err := base64.StdEncoding.DecodeString(rest); err != nil {
		w = append(w, "secret: the base64 after whsec_ lacks its = padding, which the official Standard Webhooks libraries refuse"+fix)
	}
	key, err := signingKey(c.Secret)
	switch {
	case err != nil:
	case len(key) < minKeyBytes:
		w = append(w, fmt.Sprintf("secret: the key is %s, shorter than the %d to %d random bytes Standard Webhooks asks for%s", bytesN(len(key)), minKeyBytes, maxKeyBytes, fix))
	case ok && len(key) > maxKeyBytes:
		w = append(w, fmt.Sprintf("secret: the key is %s, longer than the %d to %d random bytes Standard Webhooks asks for%s", bytesN(len(key)), minKeyBytes, maxKeyBytes, fix))
	}
	return w
}

func bytesN(n int) string {
	if n == 1 {
		return "1 byte"
	}
	return fmt.Sprintf("%d bytes", n)
}

// signingKey returns the HMAC key for secret, or nil when there is none.
func signingKey(secret string) ([]byte, error) {
	if secret == "" {
		return nil, nil
	}
	if strings.TrimSpace(secret) != secret {
		return nil, errors.New("secret: must not start or end with whitespace")
	}
	rest, ok := strings.CutPrefix(secret, secretPrefix)
	if !ok {
		return []byte(secret), nil
	}
	if rest == "" {
		return nil, errors.New("secret: no key after " + secretPrefix)
	}
	key, err := base64.StdEncoding.DecodeString(rest)
	if err != nil {
		// Accept a key whose base64 padding was dropped.
		key, err = base64.RawStdEncoding.DecodeString(rest)
	}
	if err != nil {
		return nil, errors.New("secret: the part after " + secretPrefix + " is not valid base64")
	}
	return key, nil
}

// checkHeaders rejects malformed headers and those the notifier owns. The
// error names the header but never its value, which may be a credential.
func checkHeaders(headers map[string]string) error {
	names := make([]string, 0, len(headers))
	for k := range headers {
		names = append(names, k)
	}
	slices.Sort(names)
	for _, k := range names {
		if !httpx.ValidHeaderName(k) {
			return fmt.Errorf("headers: %q is not a valid header name", k)
		}
		switch lk := strings.ToLower(k); {
		case lk == "content-type", lk == "content-length", lk == "host", lk == "transfer-encoding",
			strings.HasPrefix(lk, "webhook-"):
			return fmt.Errorf("headers: %q is set by the webhook notifier and cannot be overridden", k)
		}
		if strings.ContainsAny(headers[k], "\r\n\x00") {
			return fmt.Errorf("headers: the value of %q contains a line break or NUL", k)
		}
	}
	return nil
}

// secretsOf lists the strings that must never reach an error message: the
// URL and its path and query, which a receiver may echo in an error page,
// the secret, and header values long enough to be credentials.
func secretsOf(c *Config) []string {
	s := []string{c.URL, c.Secret}
	if u, err := url.Parse(c.URL); err == nil {
		if len(u.Path) > 1 {
			s = append(s, u.Path, u.EscapedPath())
		}
		s = append(s, u.RawQuery)
	}
	for _, v := range c.Headers {
		if len(v) >= 8 {
			s = append(s, v)
		}
	}
	s = slices.DeleteFunc(s, func(v string) bool { return len(v) < 2 })
	// Longest first, so the whole URL is replaced before its path.
	slices.SortFunc(s, func(a, b string) int { return len(b) - len(a) })
	return s
}

// Destination is the URL (a secret: it may carry a token).
func (c *Config) Destination() string { return c.URL }
