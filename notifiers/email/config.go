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
	"slices"
	"strconv"
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
	// trailing newlines are ignored). It is read when the config is loaded
	// (CheckFiles) and again when the notifier is built; it must be a
	// regular file of at most notifiers.MaxSecretFileSize.
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
}

// settings are the values New builds a notifier from, derived from a Config
// without touching the file system.
type settings struct {
	host    string
	tlsMode string
	port    int
	from    *mail.Address
	to      []string
	subject *template.Template
	body    *template.Template
}

var _ notifiers.FileChecker = (*Config)(nil)

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
// error that starts with the key concerned. It changes nothing, touches
// neither the network nor the file system: CheckFiles reads password_file
// and ca_file.
func (c *Config) Validate() error {
	_, err := c.settings()
	return err
}

// CheckFiles reads password_file and ca_file, so that a missing, empty or
// malformed file is a configuration error naming its key rather than a
// failed alert. The loader calls it after Validate; New reads the files
// again.
func (c *Config) CheckFiles() error {
	_, _, err := c.readFiles()
	return err
}

// settings derives what New needs from the Config, or reports the first
// problem.
func (c *Config) settings() (settings, error) {
	var s settings
	var err error
	if s.host, err = c.checkHost(); err != nil {
		return s, err
	}
	if s.tlsMode, s.port, err = c.checkTransport(); err != nil {
		return s, err
	}
	if err := c.checkAuth(s.host, s.tlsMode); err != nil {
		return s, err
	}
	if s.from, s.to, err = c.checkAddresses(); err != nil {
		return s, err
	}
	if c.CAFile != "" && s.tlsMode == TLSNone {
		return s, fmt.Errorf("ca_file: not used with tls: none")
	}
	if s.subject, err = parseOptional("subject", c.Subject); err != nil {
		return s, err
	}
	if s.body, err = parseOptional("template", c.Template); err != nil {
		return s, err
	}
	if c.Timeout < 0 {
		return s, fmt.Errorf("timeout: must not be negative")
	}
	return s, nil
}

// checkHost returns the host without the brackets of an IPv6 literal.
func (c *Config) checkHost() (string, error) {
	host := strings.TrimSpace(c.Host)
	if strings.HasPrefix(host, "[") && strings.HasSuffix(host, "]") {
		host = host[1 : len(host)-1] // an IPv6 literal in URL style
	}
	switch {
	case host == "":
		return "", fmt.Errorf("host: required")
	case strings.Contains(host, "://") || strings.ContainsAny(host, "/ @"):
		return "", fmt.Errorf("host: want a host name or IP address, not %q", c.Host)
	case strings.Count(host, ":") == 1 || strings.HasPrefix(host, "[") && strings.Contains(host, "]:"):
		// A host name or IPv4 address with a port (an IPv6 address has
		// more colons; in brackets, the port follows "]:").
		return "", fmt.Errorf("host: %q has a port in it; give the port in port:", c.Host)
	}
	return host, nil
}

// checkTransport returns the TLS mode and the port, with their defaults.
func (c *Config) checkTransport() (mode string, port int, err error) {
	mode = c.TLS
	if mode == "" {
		mode = TLSStartTLS
	}
	switch mode {
	case TLSStartTLS:
		port = orDefault(c.Port, 587)
	case TLSImplicit:
		port = orDefault(c.Port, 465)
	case TLSNone:
		port = orDefault(c.Port, 25)
	default:
		return "", 0, fmt.Errorf("tls: unknown mode %q (want starttls, tls or none)", c.TLS)
	}
	if port < 1 || port > 65535 {
		return "", 0, fmt.Errorf("port: %d is out of range 1-65535", c.Port)
	}
	return mode, port, nil
}

// checkAuth checks that a password comes exactly with a username and never
// travels in clear text to another host.
func (c *Config) checkAuth(host, tlsMode string) error {
	if c.Username == "" {
		switch {
		case c.Password != "":
			return fmt.Errorf("password: set only together with username")
		case c.PasswordFile != "":
			return fmt.Errorf("password_file: set only together with username")
		}
		return nil
	}
	switch {
	case c.Password != "" && c.PasswordFile != "":
		return fmt.Errorf("password: set either password or password_file, not both")
	case c.Password == "" && c.PasswordFile == "":
		return fmt.Errorf("password: required with username (or password_file)")
	}
	if tlsMode == TLSNone && !notifiers.IsLoopback(host) {
		return fmt.Errorf("tls: none would send the password in clear text to %s; use starttls or tls", host)
	}
	return nil
}

// checkAddresses parses the sender and the recipients.
func (c *Config) checkAddresses() (*mail.Address, []string, error) {
	if c.From == "" {
		return nil, nil, fmt.Errorf("from: required")
	}
	from, err := mail.ParseAddress(c.From)
	if err != nil {
		return nil, nil, fmt.Errorf("from: invalid address %q", c.From)
	}
	if len(c.To) == 0 {
		return nil, nil, fmt.Errorf("to: at least one recipient required")
	}
	to := make([]string, 0, len(c.To))
	for i, rcpt := range c.To {
		a, err := mail.ParseAddress(rcpt)
		if err != nil {
			return nil, nil, fmt.Errorf("to[%d]: invalid address %q", i, rcpt)
		}
		to = append(to, a.String())
	}
	return from, to, nil
}

// readFiles returns the password (from password or password_file) and the
// certificate pool of ca_file (nil for the system pool).
func (c *Config) readFiles() (password string, roots *x509.CertPool, err error) {
	if c.Username != "" {
		password = c.Password
		if c.PasswordFile != "" {
			b, err := notifiers.ReadFile(c.PasswordFile, notifiers.MaxSecretFileSize)
			if err != nil {
				return "", nil, fmt.Errorf("password_file: %v", err)
			}
			password = strings.TrimRight(strings.TrimPrefix(string(b), "\ufeff"), "\r\n")
			if password == "" {
				return "", nil, fmt.Errorf("password_file: %s is empty", c.PasswordFile)
			}
		}
	}
	if c.CAFile != "" {
		pem, err := notifiers.ReadFile(c.CAFile, notifiers.MaxCAFileSize)
		if err != nil {
			return "", nil, fmt.Errorf("ca_file: %v", err)
		}
		roots = x509.NewCertPool()
		if !roots.AppendCertsFromPEM(pem) {
			return "", nil, fmt.Errorf("ca_file: no PEM certificate found in %s", c.CAFile)
		}
	}
	return password, roots, nil
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

// New builds the notifier: it validates the Config and reads its files, so
// a Config built in code behaves exactly like a loaded one.
func (c *Config) New(o notifiers.Options) (notifiers.Notifier, error) {
	s, err := c.settings()
	if err != nil {
		return nil, err
	}
	password, roots, err := c.readFiles()
	if err != nil {
		return nil, err
	}
	timeout := c.Timeout
	if timeout == 0 {
		timeout = o.Timeout
	}
	if timeout <= 0 {
		timeout = notifiers.DefaultTimeout
	}
	n := &Notifier{
		name:      o.Name,
		host:      s.host,
		port:      s.port,
		tlsMode:   s.tlsMode,
		username:  c.Username,
		password:  password,
		from:      s.from.String(),
		domain:    domainOf(s.from.Address),
		to:        s.to,
		subject:   s.subject,
		body:      s.body,
		timeout:   timeout,
		userAgent: o.UserAgent,
		logger:    o.Logger,
		tlsConfig: &tls.Config{
			ServerName: s.host,
			RootCAs:    roots,
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

// Destination is the server (host and port) and the recipients, in any
// order.
func (c *Config) Destination() string {
	_, port, _ := c.checkTransport()
	to := make([]string, len(c.To))
	for i, t := range c.To {
		to[i] = strings.ToLower(strings.TrimSpace(t))
	}
	slices.Sort(to)
	return strings.ToLower(c.Host) + "\x00" + strconv.Itoa(port) + "\x00" + strings.Join(to, ",")
}
