// Package email delivers quotawatch alerts by SMTP as multipart text and
// HTML messages whose subject names the severity and the account.
//
// It speaks STARTTLS (mandatory, the default), implicit TLS or, for a relay
// on a loopback address, plain SMTP, and authenticates when a username is
// configured. The password never appears in an error or a log line.
package email

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/mail"
	"path/filepath"
	"strings"
	"text/template"
	"time"

	"github.com/quotawatch/quotawatch/notifiers"
)

// Transport security modes, the values of the tls key.
const (
	// TLSStartTLS upgrades a plain connection with STARTTLS and refuses a
	// server that does not offer it. It is the default.
	TLSStartTLS = "starttls"
	// TLSImplicit speaks TLS from the first byte (SMTPS, usually port 465).
	TLSImplicit = "tls"
	// TLSNone sends in clear text. It is meant for a relay on the same host.
	TLSNone = "none"
)

// Config is the configuration of an email notifier.
type Config struct {
	// Host is the SMTP server's host name or IP address. Required.
	Host string `yaml:"host"`
	// Port defaults to 587 for starttls, 465 for tls and 25 for none.
	Port int `yaml:"port"`
	// TLS is starttls (default), tls or none.
	TLS string `yaml:"tls"`
	// Username enables SMTP authentication; it needs exactly one of
	// Password and PasswordFile.
	Username string `yaml:"username"`
	// Password is the SMTP password.
	Password string `yaml:"password"`
	// PasswordFile names a file holding the password (a UTF-8 BOM and
	// trailing newlines are ignored). It is read when the notifier is built;
	// it must be a regular file of at most notifiers.MaxSecretFileSize.
	PasswordFile string `yaml:"password_file"`
	// From is the sender address, optionally with a display name
	// ("quotawatch <alerts@example.com>"). Required. Its domain names the
	// Message-ID.
	From string `yaml:"from"`
	// To lists the recipients; at least one.
	To []string `yaml:"to"`
	// CAFile is a PEM bundle of certificate authorities to trust instead of
	// the system pool, for servers with a private CA; a regular file of at
	// most notifiers.MaxCAFileSize.
	CAFile string `yaml:"ca_file"`
	// Subject is a text/template over notifiers.Event for the subject line;
	// empty means the event's title, e.g. "[CRITICAL] main: balance $5.00
	// below $10.00".
	Subject string `yaml:"subject"`
	// Template is a text/template over notifiers.Event for the body. It
	// replaces the text part; the HTML part shows the same text, escaped.
	Template string `yaml:"template"`
	// Timeout bounds each step of the SMTP conversation; zero means the
	// program's notifier timeout.
	Timeout time.Duration `yaml:"timeout"`

	host     string
	tlsMode  string
	password string // from password or password_file
	port     int
	roots    *x509.CertPool
	from     *mail.Address
	to       []string
	subject  *template.Template
	body     *template.Template
}

// ResolvePaths makes relative password_file and ca_file paths relative to
// the config file's folder dir.
func (c *Config) ResolvePaths(dir string) {
	for _, p := range []*string{&c.PasswordFile, &c.CAFile} {
		if *p != "" && !filepath.IsAbs(*p) {
			*p = filepath.Join(dir, *p)
		}
	}
}

// Validate checks the configuration and reports the first problem as an
// error that starts with the key concerned. It does not touch the network,
// but it reads ca_file, so a missing or malformed bundle is a configuration
// error rather than a failed alert.
func (c *Config) Validate() error {
	host := strings.TrimSpace(c.Host)
	if strings.HasPrefix(host, "[") && strings.HasSuffix(host, "]") {
		host = host[1 : len(host)-1] // an IPv6 literal in URL style
	}
	c.host = host
	switch {
	case host == "":
		return fmt.Errorf("host: required")
	case strings.Contains(host, "://") || strings.ContainsAny(host, "/ @"):
		return fmt.Errorf("host: want a host name or IP address, not %q", c.Host)
	}

	c.tlsMode = c.TLS
	if c.tlsMode == "" {
		c.tlsMode = TLSStartTLS
	}
	c.port = c.Port
	switch c.tlsMode {
	case TLSStartTLS:
		c.port = orDefault(c.Port, 587)
	case TLSImplicit:
		c.port = orDefault(c.Port, 465)
	case TLSNone:
		c.port = orDefault(c.Port, 25)
	default:
		return fmt.Errorf("tls: unknown mode %q (want starttls, tls or none)", c.TLS)
	}
	if c.port < 1 || c.port > 65535 {
		return fmt.Errorf("port: %d is out of range 1-65535", c.Port)
	}

	if c.Username == "" {
		switch {
		case c.Password != "":
			return fmt.Errorf("password: set only together with username")
		case c.PasswordFile != "":
			return fmt.Errorf("password_file: set only together with username")
		}
	} else {
		switch {
		case c.Password != "" && c.PasswordFile != "":
			return fmt.Errorf("password: set either password or password_file, not both")
		case c.Password == "" && c.PasswordFile == "":
			return fmt.Errorf("password: required with username (or password_file)")
		}
		if c.tlsMode == TLSNone && !notifiers.IsLoopback(host) {
			return fmt.Errorf("tls: none would send the password in clear text to %s; use starttls or tls", host)
		}
		c.password = c.Password
		if c.PasswordFile != "" {
			b, err := notifiers.ReadFile(c.PasswordFile, notifiers.MaxSecretFileSize)
			if err != nil {
				return fmt.Errorf("password_file: %v", err)
			}
			c.password = strings.TrimRight(strings.TrimPrefix(string(b), "\ufeff"), "\r\n")
			if c.password == "" {
				return fmt.Errorf("password_file: %s is empty", c.PasswordFile)
			}
		}
	}

	if c.From == "" {
		return fmt.Errorf("from: required")
	}
	from, err := mail.ParseAddress(c.From)
	if err != nil {
		return fmt.Errorf("from: invalid address %q", c.From)
	}
	c.from = from
	if len(c.To) == 0 {
		return fmt.Errorf("to: at least one recipient required")
	}
	c.to = c.to[:0]
	for i, rcpt := range c.To {
		a, err := mail.ParseAddress(rcpt)
		if err != nil {
			return fmt.Errorf("to[%d]: invalid address %q", i, rcpt)
		}
		c.to = append(c.to, a.String())
	}

	c.roots = nil
	if c.CAFile != "" {
		if c.tlsMode == TLSNone {
			return fmt.Errorf("ca_file: not used with tls: none")
		}
		pem, err := notifiers.ReadFile(c.CAFile, notifiers.MaxCAFileSize)
		if err != nil {
			return fmt.Errorf("ca_file: %v", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return fmt.Errorf("ca_file: no PEM certificate found in %s", c.CAFile)
		}
		c.roots = pool
	}

	if c.subject, err = parseOptional("subject", c.Subject); err != nil {
		return err
	}
	if c.body, err = parseOptional("template", c.Template); err != nil {
		return err
	}
	if c.Timeout < 0 {
		return fmt.Errorf("timeout: must not be negative")
	}
	return nil
}

func orDefault(v, def int) int {
	if v == 0 {
		return def
	}
	return v
}

func parseOptional(key, text string) (*template.Template, error) {
	if text == "" {
		return nil, nil
	}
	return notifiers.ParseTemplate(key, text)
}

// New builds the notifier. It runs Validate again, so a Config built in code
// behaves exactly like a loaded one.
func (c *Config) New(o notifiers.Options) (notifiers.Notifier, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	password := c.password
	timeout := c.Timeout
	if timeout == 0 {
		timeout = o.Timeout
	}
	if timeout <= 0 {
		timeout = notifiers.DefaultTimeout
	}
	host := c.host
	n := &Notifier{
		name:      o.Name,
		host:      host,
		port:      c.port,
		tlsMode:   c.tlsMode,
		username:  c.Username,
		password:  password,
		from:      c.from.String(),
		domain:    domainOf(c.from.Address),
		to:        append([]string(nil), c.to...),
		subject:   c.subject,
		body:      c.body,
		timeout:   timeout,
		userAgent: o.UserAgent,
		logger:    o.Logger,
		tlsConfig: &tls.Config{
			ServerName: host,
			RootCAs:    c.roots,
			MinVersion: tls.VersionTLS12,
		},
	}
	return n, nil
}

// domainOf returns the domain of an address, for the Message-ID.
func domainOf(addr string) string {
	_, d, ok := strings.Cut(addr, "@")
	d = strings.ToLower(strings.Trim(d, "[]"))
	if !ok || d == "" || strings.ContainsAny(d, "<>@ \t") {
		return "quotawatch.invalid"
	}
	return d
}
